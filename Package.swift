// swift-tools-version:6.0
// kmsync: a peer-to-peer knowledge-sharing daemon. No Swift package dependencies by policy:
// Foundation, Dispatch, Glibc, XCTest/Swift Testing, and system C libraries only.
import PackageDescription

let package = Package(
    name: "kmsync",
    products: [
        .library(name: "SyncCore", targets: ["SyncCore"]),
        .executable(name: "kmsyncd", targets: ["kmsyncd"]),
        .executable(name: "kmctl", targets: ["kmctl"]),
        .executable(name: "kmbench", targets: ["kmbench"]),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            path: "Sources/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            path: "Sources/COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(
            name: "SyncCore",
            dependencies: ["CSQLite", "COpenSSL"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Terminal presentation (tables, relative times, progress lines) for the command-line
        // tools; the engine never formats text for a terminal.
        .target(
            name: "TerminalText",
            dependencies: ["SyncCore"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The daemon runtime (scheduler, connections, control server, health, metrics,
        // systemd) lives in the executable; tests reach it with @testable import.
        .executableTarget(
            name: "kmsyncd",
            dependencies: ["SyncCore", "TerminalText"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "kmctl",
            dependencies: ["SyncCore", "TerminalText"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "kmbench",
            // CSQLite: the floor measures plain SQLite through its C API.
            dependencies: ["SyncCore", "TerminalText", "CSQLite"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // A child process for the durability test: writes, reports each acknowledged
        // write on stdout, and is killed with SIGKILL by the test. Not a product.
        .executableTarget(
            name: "kmtestwriter",
            dependencies: ["SyncCore"],
            path: "Tests/Support/kmtestwriter",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "SyncCoreTests",
            dependencies: ["SyncCore", "TerminalText", "kmtestwriter", "kmsyncd", "kmctl"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
