#pragma once
/// The deterministic simulator (issue 8, in the spirit of TigerBeetle's VOPR):
/// n validators — the real consensus engine, journal logic and a model
/// chain — on the simulated runtime in one process, with faults drawn from
/// one seed (latency, jitter, loss, duplication, reordering, partitions,
/// crashes at injected points with lost and torn unsynced writes, restarts)
/// and up to f Byzantine validators, while invariants are checked
/// continuously: agreement, validity, certificate uniqueness, no honest key
/// signing conflicting votes, persist-before-send, and liveness once faults
/// heal. A run is a pure function of its options; the trace hash proves it.

#include <cstdint>
#include <string>

namespace conet::sim {

struct SimOptions {
    std::uint64_t seed = 1;
    std::uint32_t validators = 4;
    /// Byzantine validators; -1 draws 0..f from the seed.
    int byzantine = -1;
    /// Simulated seconds of faults, before the heal phase.
    std::uint32_t fault_seconds = 30;
    /// Simulated seconds after healing within which every honest node must finalize new blocks.
    std::uint32_t liveness_seconds = 90;
    /// Sign with secp256k1 wallet keys instead of the fast keyed-hash scheme.
    bool real_crypto = false;
    /// Run the ledger (signed transfers, real State) as the application instead of the model chain.
    bool ledger = false;
    /// Model chain only: every this many blocks an epoch ends and the set
    /// rotates through a pool of validators + 1 keys (each epoch leaves one
    /// out). 0: one epoch, one set.
    std::uint64_t epoch_blocks = 0;
    /// Print every message sent, every crash and restart to stderr.
    bool trace = false;
};

struct SimResult {
    bool passed = true;
    std::string failure;   ///< the first invariant broken, with the simulated time
    std::string scenario;  ///< Byzantine roles and crash settings drawn from the seed
    std::uint64_t trace_hash = 0;
    std::uint64_t min_height = 0;  ///< final height of the least advanced honest node
    std::uint64_t max_height = 0;
    std::uint64_t messages = 0;
    std::uint64_t transactions = 0;  ///< distinct transactions in final blocks
    std::uint64_t crashes = 0;
    std::uint64_t views = 0;
    std::uint64_t journal_compactions = 0;  ///< summed over every engine instance
    std::uint64_t epochs = 0;               ///< the epoch the most advanced honest node is in
    std::uint64_t reproposals = 0;          ///< an epoch's last block proposed again by an honest leader
    std::uint64_t epoch_ends_sent = 0;      ///< epoch-end certificates sent to peers left behind
    std::uint64_t set_changes = 0;          ///< epochs whose stake-chosen set differs from the one before
    std::uint64_t paid_epochs = 0;          ///< epochs whose rewards the most advanced node's ledger paid
    std::uint64_t relays_paid = 0;          ///< relay-epochs paid over those (a relay down in an epoch earns nothing)
    std::uint64_t validators_paid = 0;      ///< validator-epochs paid over those for votes their blocks carried
    std::uint64_t jailings = 0;        ///< relays jailed (most on one node's final chain) after failing epochs in a row
    std::uint64_t unjailings = 0;      ///< of which their operators unjailed once they served again
    std::uint64_t users_cut_off = 0;   ///< steps in which relay 0's exit refused the poor user (balance run out)
    std::uint64_t grants_paid = 0;     ///< developer-fund grants paid (most on one node's final chain)
    std::uint64_t evidence_found = 0;  ///< double-sign evidence honest engines found (every report)
    std::uint64_t slashed = 0;         ///< keys a ledger slashed on that evidence (all of them Byzantine)
};

SimResult run_simulation(const SimOptions& options);
/// The command line that replays `options` exactly.
std::string replay_command(const SimOptions& options);

}  // namespace conet::sim
