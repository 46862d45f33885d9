//! The fuzz targets' properties on a stable toolchain: every seed, and
//! deterministic mutations of each (truncations, bit flips, byte
//! deletions and insertions, duplicated spans), through the same
//! functions libFuzzer runs. Also replays `corpus/<target>/` and
//! `artifacts/<target>/` when they exist (what `run.sh` left: crashes found
//! by fuzzing stay as regression tests).

use std::path::Path;

use esreplay_fuzz::{TARGETS, run, seeds};

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    if bytes.is_empty() {
        return vec![rng.next() as u8];
    }
    let at = rng.below(bytes.len());
    match rng.below(5) {
        0 => bytes.truncate(at),
        1 => bytes[at] ^= 1 << rng.below(8),
        2 => {
            let len = 1 + rng.below(64).min(bytes.len() - at - 1);
            bytes.drain(at..at + len);
        }
        3 => {
            let junk: Vec<u8> = (0..1 + rng.below(64)).map(|_| rng.next() as u8).collect();
            bytes.splice(at..at, junk);
        }
        _ => {
            let end = (at + 1 + rng.below(200)).min(bytes.len());
            let span = bytes[at..end].to_vec();
            bytes.splice(end..end, span);
        }
    }
    bytes
}

fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_target_holds_on_its_seeds_and_their_mutations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for target in TARGETS {
        let seeds = seeds(target);
        assert!(!seeds.is_empty(), "{target}: no seeds");
        let mut rng = Rng(0x5EED);
        for seed in &seeds {
            run(target, seed);
            for _ in 0..300 {
                let mutated = mutate(seed, &mut rng);
                run(target, &mutated);
                // A second mutation on top: two faults in one input.
                run(target, &mutate(&mutated, &mut rng));
            }
        }
        for dir in ["corpus", "artifacts"] {
            for input in files_in(&root.join(dir).join(target)) {
                run(target, &input);
            }
        }
    }
}
