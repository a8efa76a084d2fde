#pragma once
/// The Simplex consensus core (DESIGN §8; Chan & Pass 2023), I/O-free: every
/// input is a method that takes the current time and returns Actions; the
/// engine (engine.hpp) carries the actions out on the runtime layer.
///
/// Per view v the leader (v mod n) proposes a block extending the block
/// notarized in an earlier view whose later views were all nullified.
/// A validator that finds the proposal valid sends notarize(v); 2f+1 of them
/// form a notarization, which moves everyone to view v+1, and each validator
/// that has not nullified v then sends finalize(v); 2f+1 finalizes finalize
/// the block and all its ancestors. A validator that sees no proposal or no
/// certificate in time sends nullify(v); 2f+1 of them skip the view.
///
/// Safety rules enforced here (and asserted): at most one notarize per view,
/// never nullify and finalize in the same view, and every vote this node
/// signs is in `Actions::journal`, which the engine makes durable before any
/// message of the same Actions leaves.

#include <map>
#include <optional>
#include <set>

#include "conet/consensus/types.hpp"

namespace conet::consensus {

using TimeMs = std::uint64_t;
using PeerId = std::uint32_t;  ///< a transport peer (validators of any epoch and followers), not a validator index
/// Transport peers a core keeps per-peer state for (sync answer pacing); a peer beyond is never answered.
inline constexpr std::size_t max_peers = 4096;

struct CoreConfig {
    std::uint64_t chain_id = 0;
    /// The validator set's term this core runs (see epochs.hpp; its views go on above the previous epoch's last block).
    std::uint64_t epoch = 0;
    std::uint32_t validators = 1;
    /// This node's index in the validator set; none for a follower (signs nothing).
    std::optional<ValidatorIndex> self;
    TimeMs leader_timeout_ms = 1'000;     ///< wait this long for the leader's proposal
    TimeMs notarize_timeout_ms = 2'000;   ///< wait this long for the view's certificate
    TimeMs retry_ms = 1'000;              ///< re-broadcast nullify and ask peers to sync this often
    std::uint32_t max_backoff_shift = 5;  ///< timeouts double per failed view, up to 2^5
    View max_views_ahead = 256;           ///< votes further ahead of our view are dropped
    /// A leader builds its block this long after it learned the parent was
    /// notarized (an idle chain does not spin; the chain makes about one block
    /// per interval whoever leads). Keep it well below leader_timeout_ms.
    TimeMs min_block_interval_ms = 0;
    /// Messages of the next epoch held until this node enters it (the next
    /// leader's proposal often arrives just before the last block is final
    /// here): at most this many, and this many bytes (see epochs.hpp).
    std::size_t max_next_epoch_messages = 256;
    std::size_t max_next_epoch_bytes = 16u << 20;
};

/// A message for one peer, or for every other validator when `to` is empty.
struct Outgoing {
    std::optional<PeerId> to;
    Message message;  ///< for a proposal the block is empty: the engine attaches it
};

struct Actions {
    /// Votes this node signed: durable before any message below is sent.
    std::vector<Vote> journal;
    std::vector<Outgoing> messages;
    /// The next time on_timeout should run (replaces any earlier timer).
    std::optional<TimeMs> timer;
    /// Proposals the application must check (answer with on_verified).
    std::vector<Proposal> verify;
    /// The application must build a block for this view on this parent (answer with on_built).
    std::optional<Proposal> build;
    /// Finalization certificates newly accepted, in increasing view order:
    /// the block and its ancestors are final.
    std::vector<Certificate> finalized;
    /// Notarization certificates newly accepted (blocks the application may prefetch).
    std::vector<Certificate> notarized;
    /// Notarizations and nullifications newly accepted: the engine journals
    /// them (synced with the next vote) so that after a crash of every node
    /// the views they skipped can still be proved.
    std::vector<Certificate> certified;
    /// Double-sign evidence: two verified votes of one signer in one view
    /// that Simplex forbids together (both notarize or both finalize on
    /// different proposals, or a nullify and a finalize), seen in votes or
    /// certificates, once per signer and view; the node reports them to the
    /// ledger (docs/incentives.md).
    std::vector<std::pair<Vote, Vote>> evidence;
};

struct CoreStats {
    std::uint64_t votes_accepted = 0;
    std::uint64_t votes_rejected = 0;  ///< bad signature, wrong leader, unknown signer
    std::uint64_t votes_dropped = 0;   ///< too old or too far ahead, duplicates
    std::uint64_t equivocations = 0;   ///< a signer's second, different notarize or finalize in a view
    std::uint64_t certificates_rejected = 0;
    std::uint64_t views_nullified = 0;
    std::uint64_t sync_answers_refused = 0;  ///< a peer asked again within retry_ms
};

class Core {
public:
    /// `signer` must be non-null exactly when config.self is set.
    /// Finality starts at (finalized_view, finalized_digest): genesis is (0, genesis hash).
    Core(CoreConfig config, const Verifier& verifier, const Signer* signer, View finalized_view,
         const Hash256& finalized_digest);

    /// Replays the votes this node signed and the certificates it held before
    /// a restart (from its journal; certificates must be verified already),
    /// and enters the view after the last one it voted in. start() sends the
    /// restored votes again. Call once, before start().
    void restore(const std::vector<Vote>& journaled, const std::vector<Certificate>& certificates = {});
    /// Enters the first view and returns the first actions.
    Actions start(TimeMs now);

    Actions on_proposal(TimeMs now, PeerId from, const Vote& leader_vote);
    Actions on_vote(TimeMs now, PeerId from, const Vote& vote);
    Actions on_certificate(TimeMs now, PeerId from, const Certificate& cert);
    Actions on_sync_request(TimeMs now, PeerId from, const SyncRequest& req);
    Actions on_verified(TimeMs now, const Proposal& proposal, bool valid);
    /// The leader's block for `proposal.view` was built (digest filled in), or could not be (nullopt).
    Actions on_built(TimeMs now, const std::optional<Proposal>& proposal);
    Actions on_timeout(TimeMs now);

    View view() const { return m_view; }
    View finalized_view() const { return m_finalized_view; }
    const Hash256& finalized_digest() const { return m_finalized_digest; }
    ValidatorIndex leader(View v) const { return static_cast<ValidatorIndex>(v % m_config.validators); }
    /// Views this core accepts votes for: above finality, at most max_views_ahead past the current view.
    bool in_window(View v) const;
    const CoreStats& stats() const { return m_stats; }
    const CoreConfig& config() const { return m_config; }
    /// The latest finalization certificate held (none before the first one).
    const std::optional<Certificate>& last_finalization() const { return m_last_finalization; }
    /// The notarization or finalization certificate held for view v, if any.
    std::optional<Certificate> certificate_for(View v) const;

private:
    struct Tally {
        Proposal proposal;
        std::map<ValidatorIndex, SignatureBytes> votes;
    };
    struct ViewState {
        std::optional<Proposal> proposal;  ///< the leader's, as first seen
        bool verify_requested = false;
        bool verified = false;
        bool build_requested = false;
        /// The application could not build on parents at or above this view
        /// (it lacks their blocks): the leader tries an older parent when the
        /// views in between are nullified.
        std::optional<View> build_below;
        View build_parent = 0;
        std::optional<Proposal> my_notarize;
        bool my_nullify = false;
        std::optional<Proposal> my_finalize;
        // By the whole proposal, not its digest: a vote that names a block's
        // digest with another parent is a vote on another proposal, and must
        // never be counted in (or certify) the block's.
        std::map<Proposal, Tally> notarizes;
        std::map<Proposal, Tally> finalizes;
        std::map<ValidatorIndex, SignatureBytes> nullifies;
        std::set<ValidatorIndex> notarize_signers, finalize_signers;
        std::optional<Certificate> notarization, nullification;
        std::set<ValidatorIndex> reported;  ///< signers whose equivocation in this view was reported
    };
    enum class ParentStatus { ok, missing, invalid };

    ViewState& state(View v) { return m_views[v]; }
    ParentStatus parent_status(const Proposal& p) const;
    /// in_window, counting a drop (and asking an ahead sender to sync) when not.
    bool admit_view(TimeMs now, Actions& out, PeerId from, View v);
    bool is_notarized(View v, const Hash256& digest) const;

    Vote sign(Actions& out, const Subject& subject);
    void record_own(const Vote& vote);
    void add_vote(TimeMs now, Actions& out, const Vote& vote);
    /// Counts `second` (a notarize or finalize that conflicts with its
    /// signer's earlier vote in the view) and reports both votes as evidence.
    void report_equivocation(Actions& out, ViewState& vs, const Vote& second);
    /// Reports `vote` (verified) with the signer's earlier vote in the view
    /// that Simplex forbids together with it — the same kind on another
    /// proposal, or a nullify and a finalize — once per signer and view;
    /// `count` adds it to the equivocation count.
    void report_conflicts(Actions& out, ViewState& vs, const Vote& vote, bool count);
    void accept_certificate(TimeMs now, Actions& out, const Certificate& cert, bool broadcast);
    void enter_view(TimeMs now, Actions& out, View v);
    void progress(TimeMs now, Actions& out);
    void nullify(TimeMs now, Actions& out);
    void broadcast_best_certificates(Actions& out, std::optional<PeerId> to, View from_view);
    /// broadcast_best_certificates to one peer, at most once per retry_ms per peer.
    void answer_sync(TimeMs now, Actions& out, PeerId from, View from_view);
    void maybe_request_sync(TimeMs now, Actions& out, std::optional<PeerId> to);
    void finalize_to(Actions& out, const Certificate& cert);
    void prune();
    void set_timer(TimeMs now, Actions& out);
    TimeMs backoff(TimeMs base) const;

    CoreConfig m_config;
    const Verifier& m_verifier;
    const Signer* m_signer;
    View m_view = 0;
    View m_finalized_view;
    Hash256 m_finalized_digest;
    std::optional<Certificate> m_last_finalization;
    std::map<View, ViewState> m_views;
    TimeMs m_view_started = 0;
    TimeMs m_next_retry = 0;
    TimeMs m_next_sync = 0;
    std::uint32_t m_failed_views = 0;
    bool m_started = false;
    std::vector<Vote> m_restored;
    std::vector<TimeMs> m_next_answer;  ///< per peer: no sync answer before this time
    CoreStats m_stats;
};

}  // namespace conet::consensus
