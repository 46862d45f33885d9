//! A global allocator that counts each thread's allocations, for the tests
//! that check a path allocates nothing (recorder/tests/no_alloc.rs and
//! tap-c/tests/no_alloc.rs, which includes this file by path). Including
//! the module installs the allocator for the whole test binary; only the
//! calling thread's count is read, so the writer thread and the test
//! harness may allocate meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// This thread's allocations (and reallocations).
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator also runs while thread locals are torn down.
    let _ = COUNT.try_with(|n| n.set(n.get() + 1));
}

/// This thread's allocations so far.
pub fn allocations() -> u64 {
    COUNT.with(Cell::get)
}

// Safety: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // Safety: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // Safety: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;
