#pragma once
/// The consensus engine: runs the Simplex core on the runtime layer. It
/// decodes messages from the transport, feeds the core, and carries the
/// core's actions out in a fixed order: votes to the journal and synced
/// (persist before send), then messages, then the application's questions,
/// then finality, then the timer. The same engine runs in a node (Asio
/// runtime, file journal) and in the simulator (simulated runtime, storage
/// and network).

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "conet/consensus/application.hpp"
#include "conet/consensus/simplex.hpp"
#include "conet/runtime/journal.hpp"
#include "conet/runtime/runtime.hpp"

namespace conet::consensus {

inline constexpr std::string_view journal_file_name = "consensus.journal";
/// Each epoch has its own journal: epoch 0 keeps the name above, epoch e
/// uses "consensus-<e>.journal".
std::string journal_name(std::uint64_t epoch);
/// Journal records: a tag byte, then a vote (codec) or the bytes of a block
/// this node notarizes (written before the vote, in the same sync).
inline constexpr std::uint8_t journal_vote_tag = 0x01;
inline constexpr std::uint8_t journal_block_tag = 0x02;
/// A notarization or nullification this node accepted (not synced on its own).
inline constexpr std::uint8_t journal_certificate_tag = 0x03;

/// Where the simulator may stop a process to test crash safety.
/// `epoch_switch`: an epoch's last block is final and durable, the next
/// epoch's engine not started yet (Epochs).
enum class CrashPoint { after_append, after_sync, after_send, epoch_switch };

struct EngineStats {
    std::uint64_t messages_in = 0;
    std::uint64_t messages_malformed = 0;
    std::uint64_t blocks_fetched = 0;
    std::uint64_t journal_cut_bytes = 0;
    std::uint64_t journal_compactions = 0;
};

/// The journal is compacted after a finalization once it is this large and
/// twice its size after the last compaction (so the cost stays proportional
/// to what is appended): only records of views above the finalized one are
/// kept, the rest can never matter again (the core never votes at or below
/// finality, and finalized blocks are in the application's store).
inline constexpr std::uint64_t journal_compact_min_bytes = 1u << 20;

class Engine {
public:
    Engine(runtime::Context ctx, runtime::Storage& storage, Application& app, const Verifier& verifier,
           const Signer* signer, CoreConfig config);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    /// Opens and replays the journal, then starts the core. An error (a
    /// journal that cannot be read or is corrupt before its tail) says why;
    /// the node must not run.
    [[nodiscard]] util::Result<void, std::string> start();

    /// The simulator's crash injection: return true to kill the process at that point.
    std::function<bool(CrashPoint)> crash_hook;
    /// Called when a durable write fails: the node must stop (the default aborts).
    std::function<void(const std::string&)> on_fatal;
    /// Called with each double-sign evidence the core found (Actions::evidence).
    std::function<void(const Vote&, const Vote&)> on_evidence;
    /// See journal_compact_min_bytes (the simulator sets it low to exercise compaction).
    std::uint64_t compact_min_bytes = journal_compact_min_bytes;
    /// The transport peer of each validator index of this epoch (empty: the
    /// same numbers). Set before start().
    std::vector<runtime::PeerId> members;
    /// Called when a finalization is complete and durable in the application.
    std::function<void()> on_finalized;

    bool dead() const { return m_dead; }
    const Core& core() const { return *m_core; }
    const EngineStats& stats() const { return m_stats; }
    std::uint64_t journal_bytes() const { return m_journal ? m_journal->size_bytes() : 0; }

private:
    void on_message(runtime::PeerId from, util::ByteView bytes);
    void run(Actions actions);
    void execute(Actions& a);
    void send(const Outgoing& out);
    void build(const Proposal& request);
    void request_block(const Hash256& digest, std::optional<PeerId> to);
    void fetch_missing();
    void arm_timer(TimeMs at);
    bool crash(CrashPoint p);
    void fatal(const std::string& why);
    runtime::PeerId member(ValidatorIndex i) const { return members.empty() ? i : members.at(i); }
    /// Appends one record (not synced) and remembers it for compaction.
    bool journal_append(View view, util::Bytes record);
    void maybe_compact();

    runtime::Context m_ctx;
    runtime::Storage& m_storage;
    Application& m_app;
    const Verifier& m_verifier;
    const Signer* m_signer;
    CoreConfig m_config;
    std::unique_ptr<Core> m_core;
    std::optional<runtime::Journal> m_journal;
    /// What the journal holds, with each record's view, for compaction.
    std::vector<std::pair<View, util::Bytes>> m_records;
    std::uint64_t m_compact_at = 0;
    std::deque<Actions> m_pending;
    bool m_running = false;
    bool m_dead = false;
    std::optional<runtime::TimerId> m_timer;
    TimeMs m_timer_at = 0;
    /// The finalization waiting for blocks we lack, and the block asked for.
    std::optional<Certificate> m_finalizing;
    std::optional<Hash256> m_missing;
    std::optional<runtime::TimerId> m_fetch_timer;
    std::uint32_t m_fetch_peer = 0;
    /// Proposals whose verification waits for a parent block.
    std::vector<Proposal> m_waiting_verify;
    /// A parent block the leader could not build on (kept when it arrives, for the next view it leads).
    std::optional<Hash256> m_wanted_parent;
    /// When each block was last asked for.
    std::map<Hash256, TimeMs> m_requested;
    /// Blocks (parents or older ancestors) that proposals waiting in m_waiting_verify need.
    std::set<Hash256> m_waiting_blocks;
    std::optional<runtime::TimerId> m_build_timer;
    /// The block each view's leader proposed (views in the window above finality).
    std::map<View, Hash256> m_proposal_digests;
    Proposal m_build_request;  ///< what m_build_timer will build
    EngineStats m_stats;
};

}  // namespace conet::consensus
