//! Writes the seed corpus of every target into `corpus/<target>/` (run by
//! `run.sh` before fuzzing).

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for target in esreplay_fuzz::TARGETS {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (index, seed) in esreplay_fuzz::seeds(target).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{index:03}")), seed)?;
        }
    }
    Ok(())
}
