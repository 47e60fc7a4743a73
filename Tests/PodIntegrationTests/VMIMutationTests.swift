// Fuzz-ish: every node of every sample is dropped, retyped, replaced by a huge number or random text;
// the resolver must never crash, and every error must name a field (or the document). Plus random
// bytes and truncations of whole documents. Deterministic (seeded), so a failure reproduces.
import Foundation
@testable import PodIntegration
import Testing
import Yams

/// SplitMix64: small, seeded, good enough to pick mutations.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Mutation: CaseIterable {
    case drop, emptyObject, emptyList, hugeNumber, negative, randomText, null
}

/// Applies `mutation` to the `target`-th node in pre-order (the root is 0); `counter` counts nodes.
func mutate(_ node: Node, target: Int, counter: inout Int, _ mutation: Mutation, text: String) -> Node? {
    let index = counter
    counter += 1
    if index == target {
        switch mutation {
        case .drop: return nil
        case .emptyObject: return [:]
        case .emptyList: return []
        case .hugeNumber: return Node("99999999999999999999999999999999999999999999")
        case .negative: return Node("-1")
        case .randomText: return Node(text)
        case .null: return Node("null")
        }
    }
    switch node {
    case let .mapping(m):
        var pairs: [(Node, Node)] = []
        for (k, v) in m {
            if let nv = mutate(v, target: target, counter: &counter, mutation, text: text) { pairs.append((k, nv)) }
        }
        return .mapping(Node.Mapping(pairs))
    case let .sequence(s):
        return .sequence(Node.Sequence(s.compactMap { mutate($0, target: target, counter: &counter, mutation, text: text) }))
    default:
        return node
    }
}

func nodeCount(_ node: Node) -> Int {
    switch node {
    case let .mapping(m): 1 + m.reduce(0) { $0 + nodeCount($1.value) }
    case let .sequence(s): 1 + s.reduce(0) { $0 + nodeCount($1) }
    default: 1
    }
}

@Suite struct VMIMutationTests {
    static let texts = ["", "0", "yes", "{}", "[", "Gi", "1e999999", "../../etc/passwd", "a/b", "ünïcødé", "-", "0x10", "1.5.5"]

    static var documents: [String] {
        get throws {
            var docs: [String] = []
            for name in VMIFixtures.yamlFiles(in: VMIFixtures.samples) {
                let text = try VMIFixtures.text(name)
                docs.append(text)
                docs.append(try withKernelBoot(text))
            }
            return docs
        }
    }

    @Test func everyNodeMutatedEveryWay() throws {
        var rng = SeededGenerator(state: 42)
        var runs = 0
        for doc in try Self.documents {
            let root = try #require(try Yams.compose(yaml: doc))
            for target in 1..<nodeCount(root) {
                for mutation in Mutation.allCases {
                    var counter = 0
                    let text = Self.texts.randomElement(using: &rng)!
                    guard let mutated = mutate(root, target: target, counter: &counter, mutation, text: text),
                          let yaml = try? Yams.serialize(node: mutated) else { continue }
                    let outcome = resolveVMI(yaml)
                    runs += 1
                    for error in outcome.errors {
                        let path = error.prefix(while: { $0 != ":" })
                        #expect(!path.isEmpty && !path.contains(" ") || path == "(document)", "\(error)")
                    }
                    if let c = outcome.configuration {
                        // Whatever resolved is self-consistent.
                        #expect(c.cpu.vcpus >= 1 && c.cpu.vcpus <= 255)
                        #expect(c.memoryBytes >= 1 << 20 && c.memoryBytes % 4096 == 0)
                        #expect(c.disks.allSatisfy { $0.hostPath.hasPrefix("/") && !$0.hostPath.contains("/../") })
                    }
                }
            }
        }
        #expect(runs > 1000)
    }

    @Test func randomBytesAndTruncations() throws {
        var rng = SeededGenerator(state: 7)
        for _ in 0..<300 {
            let length = Int.random(in: 0..<200, using: &rng)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...127, using: &rng) }
            _ = resolveVMI(String(decoding: bytes, as: UTF8.self))
        }
        for doc in try Self.documents {
            for cut in stride(from: 0, to: doc.count, by: 37) {
                let outcome = resolveVMI(String(doc.prefix(cut)))
                #expect(outcome.configuration != nil || !outcome.errors.isEmpty)
            }
        }
    }
}
