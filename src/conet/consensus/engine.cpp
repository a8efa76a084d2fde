#include "conet/consensus/engine.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "conet/util/assert.hpp"

namespace conet::consensus {

Engine::Engine(runtime::Context ctx, runtime::Storage& storage, Application& app, const Verifier& verifier,
               const Signer* signer, CoreConfig config)
    : m_ctx(ctx), m_storage(storage), m_app(app), m_verifier(verifier), m_signer(signer), m_config(config) {}

Engine::~Engine() {
    m_ctx.transport.set_handler(nullptr);
    if (m_timer) m_ctx.timers.cancel_timer(*m_timer);
    if (m_fetch_timer) m_ctx.timers.cancel_timer(*m_fetch_timer);
    if (m_build_timer) m_ctx.timers.cancel_timer(*m_build_timer);
}

std::string journal_name(std::uint64_t epoch) {
    if (epoch == 0) return std::string(journal_file_name);
    return "consensus-" + std::to_string(epoch) + ".journal";
}

util::Result<void, std::string> Engine::start() {
    CONET_ASSERT(!m_core);
    CONET_ASSERT(members.empty() || members.size() == m_config.validators);
    auto replay = runtime::Journal::open(m_storage, journal_name(m_config.epoch));
    if (!replay) return util::unexpected(replay.error().message);
    m_stats.journal_cut_bytes = replay->cut_bytes;
    std::vector<Vote> votes;
    std::vector<Certificate> certs;
    votes.reserve(replay->records.size());
    for (std::size_t i = 0; i < replay->records.size(); ++i) {
        const util::Bytes& rec = replay->records[i];
        if (!rec.empty() && rec[0] == journal_block_tag) {
            // A block this node notarized: peers may need it from us after a crash.
            const auto info = m_app.receive(util::ByteView(rec).subspan(1));
            if (!info)
                return util::unexpected(replay->journal.path() + ": record " + std::to_string(i) +
                                        " is not a block the application accepts");
            m_records.emplace_back(info->view, rec);
            continue;
        }
        if (!rec.empty() && rec[0] == journal_certificate_tag) {
            auto cert = codec::decode<Certificate>(util::ByteView(rec).subspan(1));
            // Verified again: the journal is not trusted more than a peer for what others signed.
            if (!cert || !verify_certificate(*cert, m_config.chain_id, m_config.epoch, m_verifier) ||
                cert->subject.kind == VoteKind::finalize)
                return util::unexpected(replay->journal.path() + ": record " + std::to_string(i) +
                                        " is not a valid certificate");
            m_records.emplace_back(cert->subject.view(), rec);
            certs.push_back(std::move(*cert));
            continue;
        }
        if (rec.empty() || rec[0] != journal_vote_tag)
            return util::unexpected(replay->journal.path() + ": record " + std::to_string(i) + " has an unknown type");
        auto vote = codec::decode<Vote>(util::ByteView(rec).subspan(1));
        if (!vote)
            return util::unexpected(replay->journal.path() + ": record " + std::to_string(i) + " is not a vote (" +
                                    std::string(codec::describe(vote.error())) + ")");
        if (!m_config.self || vote->signer != *m_config.self)
            return util::unexpected(replay->journal.path() + ": record " + std::to_string(i) +
                                    " was signed by validator " + std::to_string(vote->signer) +
                                    ", not by this node; is this another validator's directory?");
        m_records.emplace_back(vote->subject.view(), rec);
        votes.push_back(*vote);
    }
    m_journal.emplace(std::move(replay->journal));
    m_compact_at = std::max(compact_min_bytes, 2 * m_journal->size_bytes());
    const auto [view, digest] = m_app.finalized();
    m_core = std::make_unique<Core>(m_config, m_verifier, m_signer, view, digest);
    m_core->restore(votes, certs);
    m_ctx.transport.set_handler([this](runtime::PeerId from, util::ByteView bytes) { on_message(from, bytes); });
    run(m_core->start(m_ctx.clock.now_ms()));
    return {};
}

bool Engine::journal_append(View view, util::Bytes record) {
    if (auto r = m_journal->append(record); !r) {
        fatal(r.error().message);
        return false;
    }
    m_records.emplace_back(view, std::move(record));
    return true;
}

void Engine::maybe_compact() {
    if (m_dead || m_journal->size_bytes() < m_compact_at) return;
    // Only after the application made the finalization durable (finalize()
    // returned): from then on a restart starts the core above this view.
    const View final_view = m_app.finalized().first;
    std::erase_if(m_records, [&](const auto& r) { return r.first <= final_view; });
    std::vector<util::Bytes> keep;
    keep.reserve(m_records.size());
    for (const auto& r : m_records) keep.push_back(r.second);
    // Records appended but not yet synced become durable here too, which is
    // harmless: the journal is ahead of what was sent, never behind.
    if (auto r = m_journal->rewrite(keep); !r) return fatal(r.error().message);
    ++m_stats.journal_compactions;
    m_compact_at = std::max(compact_min_bytes, 2 * m_journal->size_bytes());
}

bool Engine::crash(CrashPoint p) {
    if (crash_hook && crash_hook(p)) m_dead = true;
    return m_dead;
}

void Engine::fatal(const std::string& why) {
    m_dead = true;
    if (on_fatal) {
        on_fatal(why);
        return;
    }
    std::fprintf(stderr, "consensus: fatal: %s\n", why.c_str());
    std::abort();
}

void Engine::run(Actions actions) {
    m_pending.push_back(std::move(actions));
    if (m_running) return;  // the outer loop picks it up: no re-entrancy
    m_running = true;
    while (!m_pending.empty() && !m_dead) {
        Actions a = std::move(m_pending.front());
        m_pending.pop_front();
        execute(a);
    }
    m_pending.clear();
    m_running = false;
}

void Engine::execute(Actions& a) {
    const TimeMs now = m_ctx.clock.now_ms();
    // 1. Persist before send: every vote signed is durable before any message leaves.
    // Order within the batch: blocks and votes, then certificates. The journal
    // keeps an intact prefix after a crash, so a surviving certificate implies
    // the block it certifies survived too when this node notarized it (with one
    // validator nobody else holds it: seed 72036 with --validators 1).
    const auto append_certificates = [&]() -> bool {
        for (const Certificate& c : a.certified) {
            util::Bytes rec{journal_certificate_tag};
            util::append(rec, codec::encode(c));
            if (!journal_append(c.subject.view(), std::move(rec))) return false;
        }
        return true;
    };
    if (a.journal.empty() && !append_certificates()) return;
    if (!a.journal.empty()) {
        for (const Vote& v : a.journal) {
            if (v.subject.kind == VoteKind::notarize) {
                // The block goes first: once 2f+1 notarized it, f+1 honest validators hold it durably.
                auto block = m_app.block(v.subject.proposal.digest);
                CONET_ASSERT_MSG(block.has_value(), "notarizing a block the application does not hold");
                block->insert(block->begin(), journal_block_tag);
                if (!journal_append(v.subject.view(), std::move(*block))) return;
            }
            util::Bytes rec{journal_vote_tag};
            util::append(rec, codec::encode(v));
            if (!journal_append(v.subject.view(), std::move(rec))) return;
            if (crash(CrashPoint::after_append)) return;
        }
        if (!append_certificates()) return;
        if (auto r = m_journal->sync(); !r) return fatal(r.error().message);
        if (crash(CrashPoint::after_sync)) return;
    }
    // 2. Messages.
    for (const Outgoing& out : a.messages) {
        send(out);
        if (crash(CrashPoint::after_send)) return;
    }
    // 3. The application's answers become the core's next inputs.
    for (const Proposal& p : a.verify) {
        const VerifyResult r = m_app.verify(m_config.epoch, p);
        switch (r.verdict) {
            case Verdict::valid: m_pending.push_back(m_core->on_verified(now, p, true)); break;
            case Verdict::invalid: m_pending.push_back(m_core->on_verified(now, p, false)); break;
            case Verdict::missing_parent:
                // Every validator that notarized the parent holds it and its ancestors: ask them all.
                if (std::find(m_waiting_verify.begin(), m_waiting_verify.end(), p) == m_waiting_verify.end())
                    m_waiting_verify.push_back(p);
                m_waiting_blocks.insert(r.missing);
                request_block(r.missing, std::nullopt);
                break;
        }
    }
    if (a.build) {
        // The block interval counts from when this leader learned its parent
        // was notarized (now), so the chain, not each leader, keeps the pace.
        if (m_config.min_block_interval_ms == 0) {
            build(*a.build);
        } else if (!m_build_timer || m_build_request != *a.build) {
            if (m_build_timer) m_ctx.timers.cancel_timer(*m_build_timer);
            m_build_request = *a.build;
            m_build_timer = m_ctx.timers.set_timer(now + m_config.min_block_interval_ms, [this] {
                m_build_timer.reset();
                if (!m_dead) {
                    build(m_build_request);
                    run(Actions{});
                }
            });
        }
    }
    for (const auto& [a_vote, b_vote] : a.evidence)
        if (on_evidence) on_evidence(a_vote, b_vote);
    // 4. Finality: the latest certificate covers every earlier one.
    if (!a.finalized.empty()) {
        // Proposals at or below finality will never be voted on: stop waiting
        // for their blocks (a Byzantine leader could otherwise grow these lists).
        const View final_view = a.finalized.back().subject.view();
        std::erase_if(m_waiting_verify, [&](const Proposal& p) { return p.view <= final_view; });
        m_proposal_digests.erase(m_proposal_digests.begin(), m_proposal_digests.upper_bound(final_view));
        if (m_waiting_verify.empty()) m_waiting_blocks.clear();
        m_finalizing = a.finalized.back();
        fetch_missing();
    }
    if (a.timer) arm_timer(*a.timer);
}

void Engine::build(const Proposal& request) {
    const TimeMs now = m_ctx.clock.now_ms();
    std::optional<Proposal> built;
    // The certificate of the parent's proposal, when this epoch's core holds
    // one (not for the previous epoch's last block, nor genesis).
    std::optional<Certificate> parent_cert = m_core->certificate_for(request.parent_view);
    if (parent_cert &&
        (parent_cert->subject.kind == VoteKind::nullify || parent_cert->subject.proposal.digest != request.parent ||
         parent_cert->subject.proposal.view != request.parent_view))
        parent_cert.reset();
    if (auto digest =
            m_app.build(m_config.epoch, request, m_ctx.clock.unix_ms(), parent_cert ? &*parent_cert : nullptr)) {
        built = request;
        built->digest = *digest;
    } else if (!m_app.block(request.parent)) {
        m_wanted_parent = request.parent;
        request_block(request.parent, std::nullopt);
    }
    m_pending.push_back(m_core->on_built(now, built));
}

void Engine::request_block(const Hash256& digest, std::optional<PeerId> to) {
    // At most one request per block per retry period: answers that do not
    // complete what we wait for must not each start a new round of requests.
    const TimeMs now = m_ctx.clock.now_ms();
    auto [it, fresh] = m_requested.try_emplace(digest, now);
    if (!fresh && now < it->second + m_config.retry_ms) return;
    it->second = now;
    if (m_requested.size() > 4096) m_requested.clear();  // a bound; forgetting only allows a repeat
    send(Outgoing{to, Message::request_block(digest)});
}

void Engine::send(const Outgoing& out) {
    Message msg = out.message;
    msg.epoch = m_config.epoch;
    if (msg.type == MessageType::proposal) {
        auto block = m_app.block(msg.proposal->vote.subject.proposal.digest);
        CONET_ASSERT_MSG(block.has_value(), "the leader proposes a block it does not hold");
        msg.proposal->block = std::move(*block);
    }
    const util::Bytes bytes = msg.encode();
    if (out.to) {
        m_ctx.transport.send(*out.to, bytes);
        return;
    }
    const runtime::PeerId self = m_ctx.transport.self();
    for (runtime::PeerId p = 0; p < m_ctx.transport.peers(); ++p)
        if (p != self) m_ctx.transport.send(p, bytes);
}

void Engine::fetch_missing() {
    if (m_fetch_timer) {
        m_ctx.timers.cancel_timer(*m_fetch_timer);
        m_fetch_timer.reset();
    }
    if (!m_finalizing) return;
    m_missing = m_app.finalize(m_config.epoch, *m_finalizing);
    if (!m_missing) {
        m_finalizing.reset();
        maybe_compact();
        if (on_finalized && !m_dead) on_finalized();
        return;
    }
    // Ask one peer at a time, a different one on each retry.
    const std::uint32_t peers = m_ctx.transport.peers();
    if (peers > 1) {
        m_fetch_peer = (m_fetch_peer + 1) % peers;
        if (m_fetch_peer == m_ctx.transport.self()) m_fetch_peer = (m_fetch_peer + 1) % peers;
        ++m_stats.blocks_fetched;
        request_block(*m_missing, m_fetch_peer);
    }
    m_fetch_timer = m_ctx.timers.set_timer(m_ctx.clock.now_ms() + m_config.retry_ms, [this] {
        m_fetch_timer.reset();
        if (!m_dead) fetch_missing();
    });
}

void Engine::arm_timer(TimeMs at) {
    if (m_timer && m_timer_at == at) return;
    if (m_timer) m_ctx.timers.cancel_timer(*m_timer);
    m_timer_at = at;
    m_timer = m_ctx.timers.set_timer(at, [this] {
        m_timer.reset();
        if (!m_dead) run(m_core->on_timeout(m_ctx.clock.now_ms()));
    });
}

void Engine::on_message(runtime::PeerId from, util::ByteView bytes) {
    if (m_dead || !m_core) return;
    ++m_stats.messages_in;
    auto msg = Message::decode(bytes);
    if (!msg) {
        ++m_stats.messages_malformed;
        return;
    }
    // Blocks are answered and taken whatever the sender's epoch (a peer in a
    // later epoch serves the blocks of ours); everything else is about views
    // of one epoch.
    if (msg->epoch != m_config.epoch && msg->type != MessageType::block_request &&
        msg->type != MessageType::block_response)
        return;
    const TimeMs now = m_ctx.clock.now_ms();
    switch (msg->type) {
        case MessageType::proposal: {
            const Proposal& p = msg->proposal->vote.subject.proposal;
            // Only the block the leader's vote names, and only from the leader.
            if (from != member(m_core->leader(p.view))) {
                ++m_stats.messages_malformed;
                return;
            }
            // A block for a view outside the window is not kept (the core drops
            // the vote and may ask the sender to sync): a leader cannot park
            // blocks for views far ahead in every node's memory.
            if (!m_core->in_window(p.view)) {
                run(m_core->on_proposal(now, from, msg->proposal->vote));
                break;
            }
            // One block per view from its leader: an equivocating leader's
            // further blocks are not kept (a block a quorum notarizes is fetched
            // by digest if this node lacks it).
            if (auto seen = m_proposal_digests.find(p.view);
                seen != m_proposal_digests.end() && seen->second != p.digest) {
                run(m_core->on_proposal(now, from, msg->proposal->vote));
                break;
            }
            auto info = m_app.receive(msg->proposal->block);
            // A re-proposal (digest == parent) carries the epoch's last block
            // again, with that block's own view; verify() judges it.
            const bool again = p.digest == p.parent;
            if (!info || info->digest != p.digest || info->epoch != m_config.epoch ||
                (!again && (info->view != p.view || (info->parent_view && *info->parent_view != p.parent_view) ||
                            info->parent != p.parent))) {
                ++m_stats.messages_malformed;
                return;
            }
            m_proposal_digests.emplace(p.view, p.digest);
            run(m_core->on_proposal(now, from, msg->proposal->vote));
            break;
        }
        case MessageType::vote: run(m_core->on_vote(now, from, *msg->vote)); break;
        case MessageType::certificate: run(m_core->on_certificate(now, from, *msg->certificate)); break;
        case MessageType::sync_request: run(m_core->on_sync_request(now, from, *msg->sync)); break;
        case MessageType::block_request:
            if (auto block = m_app.block(*msg->block_request))
                send(Outgoing{from, Message::of(BlockResponse{*msg->block_request, std::move(*block)})});
            break;
        case MessageType::block_response: {
            const Hash256& d = msg->block_response->digest;
            const bool for_verify = m_waiting_blocks.contains(d);
            const bool wanted =
                (m_missing && *m_missing == d) || (m_wanted_parent && *m_wanted_parent == d) || for_verify;
            if (!wanted) return;  // only blocks we asked for are kept
            auto info = m_app.receive(msg->block_response->block);
            if (!info || info->digest != d) {
                ++m_stats.messages_malformed;
                return;
            }
            if (m_wanted_parent && *m_wanted_parent == d) m_wanted_parent.reset();
            if (m_missing && *m_missing == d) fetch_missing();
            if (for_verify) {
                // Verify the waiting proposals again; one still missing an older block asks for that one.
                m_waiting_blocks.erase(d);
                Actions retry;
                retry.verify = std::move(m_waiting_verify);
                m_waiting_verify.clear();
                if (!retry.verify.empty()) run(std::move(retry));
            }
            break;
        }
    }
}

}  // namespace conet::consensus
