#pragma once
/// Consensus across epochs (docs/consensus.md, "Validator sets and epochs"):
/// one Engine per epoch, as commonware runs one Simplex instance per epoch.
/// The application says which block ends an epoch (by height) and the owner
/// says who validates each epoch (`EpochSetFn`, computed from final state);
/// this class starts epoch e's engine with that set and its own journal,
/// and when the application has made the epoch's last block final it tears
/// the engine down, deletes its journal and starts epoch e+1's above that
/// block (views go on from the block's own view; the epoch in every vote's
/// domain keeps the two epochs' votes apart). A node outside an epoch's set runs the engine without a signer
/// and follows.
///
/// Messages carry their epoch. Those of the current epoch go to its engine;
/// block requests and responses go to it whatever their epoch (blocks are
/// blocks). A peer still in an earlier epoch is answered with the
/// certificate that ended that epoch (`Application::epoch_end`), at most
/// once per retry period per peer, so it finalizes the epoch's last block,
/// fetches the blocks it lacks and moves on; a message from a later epoch
/// makes this node ask its sender the same question. Proposals, votes and
/// certificates of the very next epoch are also held (bounded by
/// CoreConfig::max_next_epoch_*) and delivered when this node enters it, so
/// a proposal that arrives just before the last block is final here is not
/// lost to a timeout.

#include <functional>
#include <memory>
#include <vector>

#include "conet/consensus/engine.hpp"

namespace conet::consensus {

/// Who validates an epoch, as this node sees it.
struct EpochSet {
    std::unique_ptr<Verifier> verifier;
    /// This node's index and signer in the set; none to follow without voting.
    std::optional<ValidatorIndex> self;
    const Signer* signer = nullptr;
    /// The transport peer of each validator index (empty: the same numbers).
    std::vector<runtime::PeerId> members;
};
using EpochSetFn = std::function<EpochSet(std::uint64_t epoch)>;

class Epochs {
public:
    /// `base` gives the chain id and timeouts; validators, self and epoch
    /// come from `sets` for each epoch.
    Epochs(runtime::Context ctx, runtime::Storage& storage, Application& app, EpochSetFn sets, CoreConfig base);
    ~Epochs();
    Epochs(const Epochs&) = delete;
    Epochs& operator=(const Epochs&) = delete;

    /// Starts the engine of the application's current epoch (replaying its journal).
    [[nodiscard]] util::Result<void, std::string> start();

    /// Passed on to every epoch's engine (see Engine).
    std::function<bool(CrashPoint)> crash_hook;
    std::function<void(const std::string&)> on_fatal;
    /// Double-sign evidence any epoch's engine found, with that epoch.
    std::function<void(std::uint64_t epoch, const Vote&, const Vote&)> on_evidence;
    std::uint64_t compact_min_bytes = journal_compact_min_bytes;

    std::uint64_t epoch() const { return m_epoch; }
    bool dead() const { return m_engine && m_engine->dead(); }
    const Engine& engine() const { return *m_engine; }
    /// Journal compactions and fetched blocks summed over every epoch's engine.
    std::uint64_t journal_compactions() const;
    std::uint64_t blocks_fetched() const;
    std::uint64_t certificates_rejected() const;
    /// Epoch-end certificates sent to peers in an earlier epoch.
    std::uint64_t epoch_ends_sent() const { return m_epoch_ends_sent; }
    /// Messages of the next epoch held now, and ever refused for want of room.
    std::size_t next_epoch_held() const { return m_next_epoch.size(); }
    std::uint64_t next_epoch_refused() const { return m_next_epoch_refused; }

private:
    class Port;
    [[nodiscard]] util::Result<void, std::string> open(std::uint64_t epoch);
    void on_message(runtime::PeerId from, util::ByteView bytes);
    void maybe_advance();
    bool allowed(std::vector<TimeMs>& next, runtime::PeerId peer);

    runtime::Context m_ctx;
    runtime::Storage& m_storage;
    Application& m_app;
    EpochSetFn m_sets;
    CoreConfig m_base;
    std::uint64_t m_epoch = 0;
    EpochSet m_set;
    std::unique_ptr<Port> m_port;
    std::unique_ptr<Engine> m_engine;
    std::optional<runtime::TimerId> m_advance_timer;
    std::vector<TimeMs> m_next_answer;   ///< per peer: no epoch-end answer before this time
    std::vector<TimeMs> m_next_request;  ///< per peer: do not ask again before this time
    std::uint64_t m_compactions_before = 0;
    std::uint64_t m_fetched_before = 0;
    std::uint64_t m_rejected_before = 0;
    std::uint64_t m_epoch_ends_sent = 0;
    struct Held {
        runtime::PeerId from = 0;
        std::uint64_t epoch = 0;
        util::Bytes bytes;
    };
    std::vector<Held> m_next_epoch;
    std::size_t m_next_epoch_bytes = 0;
    std::uint64_t m_next_epoch_refused = 0;
};

}  // namespace conet::consensus
