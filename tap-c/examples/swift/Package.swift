// swift-tools-version:5.7
// The esreplay tap from Swift, around a real Endpoint Security client.
// Not built by the repository's tests (they run on Linux, without Swift);
// on a Mac, from this directory:
//
//   cargo build --release -p esreplay-tap-c        # target/release/libesreplay_tap.a
//   swift build -c release -Xlinker -L../../../target/release
//   sudo .build/release/TapExample /tmp/swift.esr   # signed, entitled: see docs/recording.md
import PackageDescription

let package = Package(
    name: "TapExample",
    platforms: [.macOS(.v13)],
    targets: [
        // The C header and library, through a module map.
        .systemLibrary(name: "CEsreplayTap", path: "Sources/CEsreplayTap"),
        .executableTarget(
            name: "TapExample",
            dependencies: ["CEsreplayTap"],
            linkerSettings: [.linkedLibrary("EndpointSecurity"), .linkedLibrary("bsm")]
        ),
    ]
)
