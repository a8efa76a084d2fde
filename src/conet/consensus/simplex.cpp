#include "conet/consensus/simplex.hpp"

#include <algorithm>

#include "conet/util/assert.hpp"

namespace conet::consensus {

namespace {

Certificate make_certificate(const Subject& subject, const std::map<ValidatorIndex, SignatureBytes>& votes) {
    Certificate c{subject, {}};
    c.votes.assign(votes.begin(), votes.end());  // std::map: sorted by signer, distinct
    return c;
}

}  // namespace

Core::Core(CoreConfig config, const Verifier& verifier, const Signer* signer, View finalized_view,
           const Hash256& finalized_digest)
    : m_config(config),
      m_verifier(verifier),
      m_signer(signer),
      m_view(finalized_view),
      m_finalized_view(finalized_view),
      m_finalized_digest(finalized_digest) {
    CONET_ASSERT(config.validators >= 1 && config.validators <= max_validators);
    CONET_ASSERT(verifier.validators() == config.validators);
    CONET_ASSERT(config.self.has_value() == (signer != nullptr));
    CONET_ASSERT(!config.self || *config.self < config.validators);
    CONET_ASSERT(config.leader_timeout_ms > 0 && config.notarize_timeout_ms >= config.leader_timeout_ms);
    CONET_ASSERT(config.retry_ms > 0 && config.max_views_ahead > 0);
}

void Core::restore(const std::vector<Vote>& journaled, const std::vector<Certificate>& certificates) {
    CONET_ASSERT(!m_started);
    for (const Certificate& cert : certificates) {
        const View v = cert.subject.view();
        CONET_ASSERT(cert.votes.size() >= quorum(m_config.validators));
        if (v <= m_finalized_view) continue;
        ViewState& vs = state(v);
        if (cert.subject.kind == VoteKind::notarize && !vs.notarization) vs.notarization = cert;
        if (cert.subject.kind == VoteKind::nullify && !vs.nullification) vs.nullification = cert;
        m_view = std::max(m_view, v);  // enter the view after a certified one
    }
    for (const Vote& vote : journaled) {
        CONET_ASSERT_MSG(m_config.self && vote.signer == *m_config.self, "journal holds another validator's vote");
        const View v = vote.subject.view();
        if (v <= m_finalized_view) continue;
        record_own(vote);
        m_restored.push_back(vote);
        // start() enters the view after m_view: the last view voted in, or
        // the one after it when this node finalized it (it saw it notarized).
        m_view = std::max(m_view, vote.subject.kind == VoteKind::finalize ? v : v - 1);
    }
}

Actions Core::start(TimeMs now) {
    CONET_ASSERT(!m_started);
    m_started = true;
    Actions out;
    // Resume in the last view this node voted in (it may still nullify it,
    // never vote in it again otherwise), or the view after finality.
    const View first = std::max(m_view, m_finalized_view) + 1;
    m_view = first - 1;
    m_next_sync = now;
    // Peers may have lost the certificates these votes formed (if every node
    // crashed): send them again so the views can be certified anew.
    for (const Vote& v : m_restored)
        if (v.subject.view() > m_finalized_view) out.messages.push_back(Outgoing{std::nullopt, Message::of(v)});
    m_restored.clear();
    enter_view(now, out, first);
    return out;
}

bool Core::admit_view(TimeMs now, Actions& out, PeerId from, View v) {
    if (in_window(v)) return true;
    ++m_stats.votes_dropped;
    if (v > m_view) maybe_request_sync(now, out, from);  // the sender is ahead: ask it where the chain is
    return false;
}

bool Core::in_window(View v) const {
    return v > m_finalized_view && v <= m_view + m_config.max_views_ahead;
}

bool Core::is_notarized(View v, const Hash256& digest) const {
    if (v == m_finalized_view) return digest == m_finalized_digest;
    auto it = m_views.find(v);
    return it != m_views.end() && it->second.notarization && it->second.notarization->subject.proposal.digest == digest;
}

Core::ParentStatus Core::parent_status(const Proposal& p) const {
    if (p.parent_view < m_finalized_view || p.parent_view >= p.view) return ParentStatus::invalid;
    if (p.parent_view == m_finalized_view) {
        if (p.parent != m_finalized_digest) return ParentStatus::invalid;
    } else {
        auto it = m_views.find(p.parent_view);
        if (it == m_views.end() || !it->second.notarization) return ParentStatus::missing;
        // Only one block can be notarized in a view (quorum intersection).
        if (it->second.notarization->subject.proposal.digest != p.parent) return ParentStatus::invalid;
    }
    for (View w = p.parent_view + 1; w < p.view; ++w) {
        auto it = m_views.find(w);
        if (it == m_views.end() || !it->second.nullification) return ParentStatus::missing;
    }
    return ParentStatus::ok;
}

TimeMs Core::backoff(TimeMs base) const {
    return base << std::min(m_failed_views, m_config.max_backoff_shift);
}

void Core::record_own(const Vote& vote) {
    ViewState& vs = state(vote.subject.view());
    const ValidatorIndex self = *m_config.self;
    switch (vote.subject.kind) {
        case VoteKind::notarize:
            CONET_ASSERT_MSG(!vs.my_notarize || *vs.my_notarize == vote.subject.proposal,
                             "two notarize votes in one view");
            vs.my_notarize = vote.subject.proposal;
            if (!vs.proposal && leader(vote.subject.view()) == self) vs.proposal = vote.subject.proposal;
            vs.notarize_signers.insert(self);
            vs.notarizes.try_emplace(vote.subject.proposal, Tally{vote.subject.proposal, {}})
                .first->second.votes.emplace(self, vote.signature);
            break;
        case VoteKind::nullify:
            CONET_ASSERT_MSG(!vs.my_finalize, "nullify and finalize in one view");
            vs.my_nullify = true;
            vs.nullifies.emplace(self, vote.signature);
            break;
        case VoteKind::finalize:
            CONET_ASSERT_MSG(!vs.my_nullify, "nullify and finalize in one view");
            CONET_ASSERT_MSG(!vs.my_finalize || *vs.my_finalize == vote.subject.proposal,
                             "two finalize votes in one view");
            vs.my_finalize = vote.subject.proposal;
            vs.finalize_signers.insert(self);
            vs.finalizes.try_emplace(vote.subject.proposal, Tally{vote.subject.proposal, {}})
                .first->second.votes.emplace(self, vote.signature);
            break;
    }
}

Vote Core::sign(Actions& out, const Subject& subject) {
    CONET_ASSERT(m_signer && m_config.self);
    ViewState& vs = state(subject.view());
    switch (subject.kind) {
        case VoteKind::notarize: CONET_ASSERT(!vs.my_notarize && !vs.my_nullify); break;
        case VoteKind::nullify: CONET_ASSERT(!vs.my_nullify && !vs.my_finalize); break;
        case VoteKind::finalize: CONET_ASSERT(!vs.my_finalize && !vs.my_nullify); break;
    }
    Vote vote{subject, *m_config.self, m_signer->sign(subject.signing_digest(m_config.chain_id, m_config.epoch))};
    out.journal.push_back(vote);
    record_own(vote);
    return vote;
}

// Counts a vote that is already known to be valid and new, and forms a
// certificate when the vote completes a quorum.
void Core::add_vote(TimeMs now, Actions& out, const Vote& vote) {
    const View v = vote.subject.view();
    ViewState& vs = state(v);
    const std::size_t q = quorum(m_config.validators);
    switch (vote.subject.kind) {
        case VoteKind::notarize: {
            Tally& t = vs.notarizes.try_emplace(vote.subject.proposal, Tally{vote.subject.proposal, {}}).first->second;
            t.votes.emplace(vote.signer, vote.signature);
            vs.notarize_signers.insert(vote.signer);
            if (t.votes.size() >= q && !vs.notarization)
                accept_certificate(now, out, make_certificate(vote.subject, t.votes), true);
            break;
        }
        case VoteKind::nullify:
            vs.nullifies.emplace(vote.signer, vote.signature);
            if (vs.nullifies.size() >= q && !vs.nullification)
                accept_certificate(now, out, make_certificate(vote.subject, vs.nullifies), true);
            break;
        case VoteKind::finalize: {
            Tally& t = vs.finalizes.try_emplace(vote.subject.proposal, Tally{vote.subject.proposal, {}}).first->second;
            t.votes.emplace(vote.signer, vote.signature);
            vs.finalize_signers.insert(vote.signer);
            if (t.votes.size() >= q && v > m_finalized_view)
                accept_certificate(now, out, make_certificate(vote.subject, t.votes), true);
            break;
        }
    }
}

void Core::accept_certificate(TimeMs now, Actions& out, const Certificate& cert, bool broadcast) {
    const View v = cert.subject.view();
    CONET_ASSERT(cert.votes.size() >= quorum(m_config.validators));
    if (v <= m_finalized_view) return;
    if (broadcast) out.messages.push_back(Outgoing{std::nullopt, Message::of(cert)});
    switch (cert.subject.kind) {
        case VoteKind::notarize: {
            ViewState& vs = state(v);
            if (vs.notarization) return;
            vs.notarization = cert;
            out.notarized.push_back(cert);
            out.certified.push_back(cert);
            if (m_signer && !vs.my_nullify && !vs.my_finalize) {
                const Vote vote = sign(out, Subject::finalize(cert.subject.proposal));
                out.messages.push_back(Outgoing{std::nullopt, Message::of(vote)});
                add_vote(now, out, vote);
            }
            if (v >= m_view && v + 1 > m_view) enter_view(now, out, v + 1);
            break;
        }
        case VoteKind::nullify: {
            ViewState& vs = state(v);
            if (vs.nullification) return;
            vs.nullification = cert;
            out.certified.push_back(cert);
            ++m_stats.views_nullified;
            if (v >= m_view) enter_view(now, out, v + 1);
            break;
        }
        case VoteKind::finalize:
            finalize_to(out, cert);
            if (v >= m_view) enter_view(now, out, v + 1);
            break;
    }
    progress(now, out);
}

void Core::finalize_to(Actions& out, const Certificate& cert) {
    const View v = cert.subject.view();
    CONET_ASSERT(v > m_finalized_view);
    m_finalized_view = v;
    m_finalized_digest = cert.subject.proposal.digest;
    m_last_finalization = cert;
    out.finalized.push_back(cert);
    prune();
}

void Core::report_equivocation(Actions& out, ViewState& vs, const Vote& second) {
    ++m_stats.equivocations;
    CONET_ASSERT(second.subject.kind != VoteKind::nullify);
    // One report per signer and view; only a second vote that verifies (a
    // forged one must neither be reported nor keep the real one from being).
    if (vs.reported.contains(second.signer)) return;
    if (!m_verifier.verify(second.signer, second.subject.signing_digest(m_config.chain_id, m_config.epoch),
                           second.signature))
        return;
    report_conflicts(out, vs, second, false);
}

void Core::report_conflicts(Actions& out, ViewState& vs, const Vote& vote, bool count) {
    if (vs.reported.contains(vote.signer)) return;
    std::optional<Vote> first;
    if (vote.subject.kind != VoteKind::nullify) {
        // The same kind on another proposal.
        const auto& tallies = vote.subject.kind == VoteKind::notarize ? vs.notarizes : vs.finalizes;
        for (const auto& [proposal, tally] : tallies) {
            auto it = tally.votes.find(vote.signer);
            if (it == tally.votes.end() || tally.proposal == vote.subject.proposal) continue;
            first = Vote{Subject{vote.subject.kind, tally.proposal}, vote.signer, it->second};
            break;
        }
    }
    if (!first && vote.subject.kind == VoteKind::finalize) {
        // A finalize in a view the signer nullified.
        if (auto it = vs.nullifies.find(vote.signer); it != vs.nullifies.end())
            first = Vote{Subject::nullify(vote.subject.view()), vote.signer, it->second};
    }
    if (!first && vote.subject.kind == VoteKind::nullify) {
        // A nullify in a view the signer finalized.
        for (const auto& [proposal, tally] : vs.finalizes)
            if (auto it = tally.votes.find(vote.signer); it != tally.votes.end()) {
                first = Vote{Subject::finalize(tally.proposal), vote.signer, it->second};
                break;
            }
    }
    if (!first) return;
    if (count) ++m_stats.equivocations;
    vs.reported.insert(vote.signer);
    out.evidence.emplace_back(*first, vote);
}

void Core::prune() {
    m_views.erase(m_views.begin(), m_views.upper_bound(m_finalized_view));
}

void Core::enter_view(TimeMs now, Actions& out, View v) {
    CONET_ASSERT(v > m_view);
    if (m_view > m_finalized_view || m_view > 0) {
        auto it = m_views.find(m_view);
        const bool notarized = m_view == m_finalized_view || (it != m_views.end() && it->second.notarization);
        m_failed_views = notarized ? 0 : m_failed_views + 1;
    }
    m_view = v;
    m_view_started = now;
    m_next_retry = 0;
    progress(now, out);
}

void Core::progress(TimeMs now, Actions& out) {
    if (m_signer) {
        const ValidatorIndex self = *m_config.self;
        ViewState& vs = state(m_view);
        if (leader(m_view) == self && !vs.build_requested && !vs.my_notarize && !vs.my_nullify) {
            // The parent: the latest notarized view, with every later view nullified.
            std::optional<Proposal> parent;
            for (View w = m_view - 1;; --w) {
                if (w == m_finalized_view) {
                    if (!vs.build_below || w < *vs.build_below) parent = Proposal{m_view, w, m_finalized_digest, {}};
                    break;
                }
                auto it = m_views.find(w);
                if (it == m_views.end()) break;
                if (it->second.notarization && (!vs.build_below || w < *vs.build_below)) {
                    parent = Proposal{m_view, w, it->second.notarization->subject.proposal.digest, {}};
                    break;
                }
                if (!it->second.nullification) break;
            }
            if (parent) {
                vs.build_requested = true;
                vs.build_parent = parent->parent_view;
                out.build = *parent;
            } else {
                maybe_request_sync(now, out, std::nullopt);
            }
        }
        if (vs.proposal && !vs.verify_requested && !vs.my_notarize && !vs.my_nullify) {
            switch (parent_status(*vs.proposal)) {
                case ParentStatus::ok:
                    vs.verify_requested = true;
                    out.verify.push_back(*vs.proposal);
                    break;
                case ParentStatus::invalid: nullify(now, out); break;
                case ParentStatus::missing: maybe_request_sync(now, out, std::nullopt); break;
            }
        }
    }
    set_timer(now, out);
}

void Core::nullify(TimeMs now, Actions& out) {
    ViewState& vs = state(m_view);
    if (!m_signer || vs.my_nullify || vs.my_finalize) return;
    const Vote vote = sign(out, Subject::nullify(m_view));
    out.messages.push_back(Outgoing{std::nullopt, Message::of(vote)});
    m_next_retry = now + m_config.retry_ms;
    add_vote(now, out, vote);
}

void Core::maybe_request_sync(TimeMs now, Actions& out, std::optional<PeerId> to) {
    if (now < m_next_sync) return;
    m_next_sync = now + m_config.retry_ms;
    out.messages.push_back(Outgoing{to, Message::of(SyncRequest{m_finalized_view, m_view})});
}

void Core::set_timer(TimeMs now, Actions& out) {
    TimeMs next;
    if (!m_signer) {
        next = m_next_sync;
    } else {
        const ViewState& vs = state(m_view);
        if (vs.my_nullify || vs.my_finalize) {
            next = m_next_retry;
        } else {
            next = m_view_started + backoff(m_config.notarize_timeout_ms);
            if (!vs.my_notarize) next = std::min(next, m_view_started + backoff(m_config.leader_timeout_ms));
        }
    }
    out.timer = std::max(next, now);
}

void Core::broadcast_best_certificates(Actions& out, std::optional<PeerId> to, View from_view) {
    if (m_last_finalization && m_finalized_view > from_view)
        out.messages.push_back(Outgoing{to, Message::of(*m_last_finalization)});
    // Certificates of the views after max(from, our finality), oldest first,
    // and always the latest one (it moves the peer to our view).
    const View lo = std::max(from_view, m_finalized_view) + 1;
    std::vector<const Certificate*> certs;
    for (auto it = m_views.lower_bound(lo); it != m_views.end() && it->first < m_view; ++it) {
        if (it->second.notarization) certs.push_back(&*it->second.notarization);
        if (it->second.nullification) certs.push_back(&*it->second.nullification);
    }
    if (certs.size() > max_sync_certificates) {
        certs.erase(certs.begin() + static_cast<std::ptrdiff_t>(max_sync_certificates) - 1, certs.end() - 1);
    }
    for (const Certificate* c : certs) out.messages.push_back(Outgoing{to, Message::of(*c)});
}

Actions Core::on_proposal(TimeMs now, PeerId from, const Vote& vote) {
    Actions out;
    if (!m_started) return out;
    const View v = vote.subject.view();
    if (vote.subject.kind != VoteKind::notarize || vote.signer >= m_config.validators || vote.signer != leader(v)) {
        ++m_stats.votes_rejected;
        return out;
    }
    if (!admit_view(now, out, from, v)) return out;
    ViewState& vs = state(v);
    if (vs.proposal) {
        if (*vs.proposal == vote.subject.proposal) {
            ++m_stats.votes_dropped;
        } else {
            report_equivocation(out, vs, vote);
        }
        return out;
    }
    if (vs.notarize_signers.contains(vote.signer)) {
        // The leader's plain vote came first; it names the same proposal or is an equivocation.
        auto it = vs.notarizes.find(vote.subject.proposal);
        if (it == vs.notarizes.end() || !it->second.votes.contains(vote.signer)) {
            report_equivocation(out, vs, vote);
            return out;
        }
        vs.proposal = vote.subject.proposal;
    } else {
        if (!m_verifier.verify(vote.signer, vote.subject.signing_digest(m_config.chain_id, m_config.epoch),
                               vote.signature)) {
            ++m_stats.votes_rejected;
            return out;
        }
        ++m_stats.votes_accepted;
        vs.proposal = vote.subject.proposal;
        add_vote(now, out, vote);
    }
    if (v > m_view + 1) maybe_request_sync(now, out, from);
    progress(now, out);
    return out;
}

Actions Core::on_vote(TimeMs now, PeerId from, const Vote& vote) {
    Actions out;
    if (!m_started) return out;
    const View v = vote.subject.view();
    if (vote.signer >= m_config.validators) {
        ++m_stats.votes_rejected;
        return out;
    }
    if (!admit_view(now, out, from, v)) return out;
    ViewState& vs = state(v);
    switch (vote.subject.kind) {
        case VoteKind::notarize:
        case VoteKind::finalize: {
            auto& signers = vote.subject.kind == VoteKind::notarize ? vs.notarize_signers : vs.finalize_signers;
            auto& tallies = vote.subject.kind == VoteKind::notarize ? vs.notarizes : vs.finalizes;
            if (signers.contains(vote.signer)) {
                auto it = tallies.find(vote.subject.proposal);
                if (it != tallies.end() && it->second.votes.contains(vote.signer))
                    ++m_stats.votes_dropped;
                else
                    report_equivocation(out, vs, vote);
                return out;
            }
            break;
        }
        case VoteKind::nullify:
            if (vs.nullifies.contains(vote.signer)) {
                ++m_stats.votes_dropped;
                return out;
            }
            break;
    }
    if (!m_verifier.verify(vote.signer, vote.subject.signing_digest(m_config.chain_id, m_config.epoch),
                           vote.signature)) {
        ++m_stats.votes_rejected;
        return out;
    }
    ++m_stats.votes_accepted;
    // A nullify and a finalize of one signer in one view: it still counts (f may lie), and is reported.
    if (vote.subject.kind != VoteKind::notarize) report_conflicts(out, vs, vote, true);
    add_vote(now, out, vote);
    if (v > m_view + 1) maybe_request_sync(now, out, from);
    // A peer still nullifying a view we have left is stuck: help it.
    if (vote.subject.kind == VoteKind::nullify && v < m_view) answer_sync(now, out, from, v - 1);
    progress(now, out);
    return out;
}

Actions Core::on_certificate(TimeMs now, PeerId, const Certificate& cert) {
    Actions out;
    if (!m_started) return out;
    const View v = cert.subject.view();
    if (v <= m_finalized_view) {
        ++m_stats.votes_dropped;
        return out;
    }
    if (cert.subject.kind != VoteKind::finalize) {
        auto it = m_views.find(v);
        if (it != m_views.end() && (cert.subject.kind == VoteKind::notarize ? it->second.notarization.has_value()
                                                                            : it->second.nullification.has_value())) {
            ++m_stats.votes_dropped;
            return out;
        }
    }
    if (!verify_certificate(cert, m_config.chain_id, m_config.epoch, m_verifier)) {
        ++m_stats.certificates_rejected;
        return out;
    }
    // Its votes (all verified) may conflict with votes seen here: an
    // equivocating leader shows each half of the validators one proposal,
    // and only a certificate brings the other's votes.
    if (cert.subject.kind != VoteKind::nullify)
        if (auto it = m_views.find(v); it != m_views.end())
            for (const auto& [signer, sig] : cert.votes)
                report_conflicts(out, it->second, Vote{cert.subject, signer, sig}, true);
    accept_certificate(now, out, cert, false);
    return out;
}

Actions Core::on_sync_request(TimeMs now, PeerId from, const SyncRequest& req) {
    Actions out;
    if (!m_started) return out;
    answer_sync(now, out, from, req.finalized_view);
    return out;
}

void Core::answer_sync(TimeMs now, Actions& out, PeerId from, View from_view) {
    // An answer is up to 65 certificates for a 17-byte request: at most one
    // per peer per retry period, so no peer can use us as an amplifier.
    if (from >= m_next_answer.size()) m_next_answer.resize(std::min<std::size_t>(from + 1, max_peers), 0);
    if (from >= m_next_answer.size() || now < m_next_answer[from]) {
        ++m_stats.sync_answers_refused;
        return;
    }
    m_next_answer[from] = now + m_config.retry_ms;
    broadcast_best_certificates(out, from, from_view);
}

Actions Core::on_verified(TimeMs now, const Proposal& p, bool valid) {
    Actions out;
    if (!m_started || !in_window(p.view)) return out;
    ViewState& vs = state(p.view);
    if (!vs.proposal || *vs.proposal != p || !vs.verify_requested) return out;
    vs.verified = valid;
    if (p.view != m_view || vs.my_notarize || vs.my_nullify || !m_signer) return out;
    if (valid) {
        const Vote vote = sign(out, Subject::notarize(p));
        out.messages.push_back(Outgoing{std::nullopt, Message::of(vote)});
        add_vote(now, out, vote);
    } else {
        nullify(now, out);
    }
    progress(now, out);
    return out;
}

Actions Core::on_built(TimeMs now, const std::optional<Proposal>& p) {
    Actions out;
    if (!m_started || !m_signer) return out;
    if (!p) {
        // The application lacks the parent's block: try an older parent (the
        // engine fetches the missing block meanwhile).
        ViewState& vs = state(m_view);
        if (vs.build_requested && !vs.my_notarize && !vs.my_nullify && vs.build_parent > m_finalized_view) {
            vs.build_below = vs.build_parent;
            vs.build_requested = false;
            progress(now, out);
        }
        return out;
    }
    if (p->view != m_view || leader(p->view) != *m_config.self) return out;
    ViewState& vs = state(p->view);
    if (vs.my_notarize || vs.my_nullify || vs.proposal || parent_status(*p) != ParentStatus::ok) return out;
    vs.proposal = *p;
    vs.verify_requested = vs.verified = true;
    const Vote vote = sign(out, Subject::notarize(*p));
    out.messages.push_back(Outgoing{std::nullopt, Message::of(ProposalMessage{vote, {}})});
    add_vote(now, out, vote);
    progress(now, out);
    return out;
}

Actions Core::on_timeout(TimeMs now) {
    Actions out;
    if (!m_started) return out;
    if (!m_signer) {
        maybe_request_sync(now, out, std::nullopt);
        set_timer(now, out);
        return out;
    }
    ViewState& vs = state(m_view);
    if (!vs.my_nullify && !vs.my_finalize) {
        const bool no_proposal = !vs.my_notarize && now >= m_view_started + backoff(m_config.leader_timeout_ms);
        const bool no_certificate = now >= m_view_started + backoff(m_config.notarize_timeout_ms);
        if (no_proposal || no_certificate) nullify(now, out);
    } else if (now >= m_next_retry) {
        // Still stuck: send our nullify again with the best certificates we hold, and ask for theirs.
        if (vs.my_nullify)
            out.messages.push_back(Outgoing{std::nullopt, Message::of(Vote{Subject::nullify(m_view), *m_config.self,
                                                                           vs.nullifies.at(*m_config.self)})});
        broadcast_best_certificates(out, std::nullopt, m_view > 1 ? m_view - 2 : 0);
        m_next_sync = 0;
        maybe_request_sync(now, out, std::nullopt);
        m_next_retry = now + m_config.retry_ms;
    }
    set_timer(now, out);
    return out;
}

std::optional<Certificate> Core::certificate_for(View v) const {
    if (m_last_finalization && m_last_finalization->subject.view() == v) return m_last_finalization;
    auto it = m_views.find(v);
    if (it != m_views.end() && it->second.notarization) return it->second.notarization;
    return std::nullopt;
}

}  // namespace conet::consensus
