// The Simplex core (I/O-free) driven directly with simulated time, its wire
// types, and the simulator: determinism, seeds, and every seed that ever failed.

#include <gtest/gtest.h>

#include <deque>

#include "conet/consensus/engine.hpp"
#include "conet/consensus/epochs.hpp"
#include "conet/consensus/ledger_form.hpp"
#include "conet/consensus/simplex.hpp"
#include "conet/crypto/random.hpp"
#include "conet/ledger/block.hpp"
#include "conet/runtime/sim.hpp"
#include "conet/runtime/sim_storage.hpp"
#include "conet/sim/fast_scheme.hpp"
#include "conet/sim/sim_app.hpp"
#include "conet/sim/simulation.hpp"

namespace conet::consensus {
namespace {

using sim::FastSigner;
using sim::FastVerifier;

constexpr std::uint64_t chain = 9;

Hash256 h(std::uint8_t b) {
    Hash256 x{};
    x.fill(b);
    return x;
}

/// n cores wired through a FIFO of messages; the application accepts every
/// block, and a block's digest is derived from its view and parent.
struct Cluster {
    explicit Cluster(std::uint32_t n, Hash256 genesis_digest = h(0xee)) : genesis(genesis_digest) {
        std::vector<Hash256> keys;
        for (std::uint32_t i = 0; i < n; ++i) keys.push_back(h(static_cast<std::uint8_t>(i + 1)));
        verifier = std::make_unique<FastVerifier>(keys);
        for (std::uint32_t i = 0; i < n; ++i) {
            signers.push_back(std::make_unique<FastSigner>(keys[i]));
            CoreConfig cfg;
            cfg.chain_id = chain;
            cfg.validators = n;
            cfg.self = i;
            cores.push_back(std::make_unique<Core>(cfg, *verifier, signers[i].get(), 0, genesis));
        }
        journal.resize(n);
        finalized.resize(n);
        timers.resize(n);
    }
    void start_all() {
        for (std::uint32_t i = 0; i < cores.size(); ++i) apply(i, cores[i]->start(now));
    }
    void apply(std::uint32_t i, Actions a) {
        for (const Vote& v : a.journal) journal[i].push_back(v);
        for (const Outgoing& o : a.messages) {
            for (std::uint32_t to = 0; to < cores.size(); ++to)
                if (to != i && (!o.to || *o.to == to) && !down.contains(to) && !down.contains(i))
                    queue.push_back({i, to, o.message});
        }
        for (const auto& c : a.finalized) finalized[i].push_back(c.subject.proposal);
        if (a.timer) timers[i] = *a.timer;
        for (const Proposal& p : a.verify) apply(i, cores[i]->on_verified(now, p, !reject_all));
        if (a.build && a.build->view <= max_build_view) {
            Proposal p = *a.build;
            p.digest = crypto::keccak256(codec::encode(p));
            apply(i, cores[i]->on_built(now, p));
        }
    }
    void deliver_all() {
        while (!queue.empty()) {
            auto [from, to, m] = queue.front();
            queue.pop_front();
            Core& c = *cores[to];
            switch (m.type) {
                case MessageType::proposal: apply(to, c.on_proposal(now, from, m.proposal->vote)); break;
                case MessageType::vote: apply(to, c.on_vote(now, from, *m.vote)); break;
                case MessageType::certificate: apply(to, c.on_certificate(now, from, *m.certificate)); break;
                case MessageType::sync_request: apply(to, c.on_sync_request(now, from, *m.sync)); break;
                default: break;
            }
        }
    }
    void advance(TimeMs t) {
        now = t;
        for (std::uint32_t i = 0; i < cores.size(); ++i)
            if (!down.contains(i) && timers[i] <= now) apply(i, cores[i]->on_timeout(now));
        deliver_all();
    }
    struct InFlight {
        std::uint32_t from, to;
        Message message;
    };
    Hash256 genesis;
    /// Leaders of later views stay silent (one validator would otherwise build forever at time 0).
    View max_build_view = 1'000;
    TimeMs now = 0;
    bool reject_all = false;
    std::set<std::uint32_t> down;
    std::unique_ptr<FastVerifier> verifier;
    std::vector<std::unique_ptr<FastSigner>> signers;
    std::vector<std::unique_ptr<Core>> cores;
    std::vector<std::vector<Vote>> journal;
    std::vector<std::vector<Proposal>> finalized;
    std::vector<TimeMs> timers;
    std::deque<InFlight> queue;
};

TEST(ConsensusTypes, ProposalVoteCertificateRoundTripAndRejectBadInput) {
    const Proposal p{5, 3, h(1), h(2)};
    const Vote v{Subject::notarize(p), 2, FastSigner::mac(h(3), h(4))};
    EXPECT_EQ(codec::decode<Vote>(codec::encode(v)).value(), v);
    const Certificate c{Subject::nullify(7), {{0, v.signature}, {3, v.signature}}};
    EXPECT_EQ(codec::decode<Certificate>(codec::encode(c)).value(), c);
    auto bytes = Message::of(v).encode();
    EXPECT_EQ(Message::decode(bytes)->vote.value(), v);
    bytes.push_back(0);
    EXPECT_FALSE(Message::decode(bytes).has_value()) << "trailing byte accepted";
    // A proposal must extend an earlier view, and view 0 (genesis) is never voted on.
    EXPECT_FALSE(codec::decode<Proposal>(codec::encode(Proposal{5, 5, h(1), h(2)})).has_value());
    EXPECT_FALSE(codec::decode<Subject>(codec::encode(Subject::nullify(0))).has_value());
    auto bad_kind = codec::encode(Subject::nullify(3));
    bad_kind[0] = 9;
    EXPECT_FALSE(codec::decode<Subject>(bad_kind).has_value());
    // A proposal message must carry a notarize vote.
    auto prop = Message::of(ProposalMessage{Vote{Subject::finalize(p), 1, {}}, {}}).encode();
    EXPECT_FALSE(Message::decode(prop).has_value());
}

TEST(ConsensusTypes, SigningDigestsSeparateKindsChainsAndEpochs) {
    const Proposal p{5, 3, h(1), h(2)};
    EXPECT_NE(Subject::notarize(p).signing_digest(1, 0), Subject::notarize(p).signing_digest(1, 1));
    EXPECT_NE(Subject::nullify(5).signing_digest(1, 3), Subject::nullify(5).signing_digest(1, 4));
    EXPECT_NE(Subject::notarize(p).signing_digest(1, 0), Subject::finalize(p).signing_digest(1, 0));
    EXPECT_NE(Subject::notarize(p).signing_digest(1, 0), Subject::notarize(p).signing_digest(2, 0));
    EXPECT_NE(Subject::nullify(5).signing_digest(1, 0), Subject::nullify(6).signing_digest(1, 0));
}

TEST(ConsensusTypes, LedgerCertificateVotesAreTheConsensusFinalizeVotes) {
    // A ledger header's certificate is the Simplex finalization of the
    // proposal the header is: both sides must hash the same bytes.
    ledger::Header h;
    h.chain_id = 9;
    h.height = 4;
    h.view = 12;
    h.parent_view = 10;
    h.parent[3] = 0x55;
    h.time_unix = 1234;
    const Proposal p{h.view, h.parent_view, h.parent, h.hash()};
    EXPECT_EQ(h.vote_digest(), Subject::finalize(p).signing_digest(h.chain_id, 0));
    EXPECT_NE(h.vote_digest(), Subject::notarize(p).signing_digest(h.chain_id, 0));
    h.parent_view = 11;  // every field of the proposal is covered
    EXPECT_NE(h.vote_digest(), Subject::finalize(p).signing_digest(h.chain_id, 0));
}

TEST(ConsensusTypes, WalletVerifierAcceptsOnlyTheSignersKeyInCanonicalForm) {
    crypto::SeededRng rng(1);
    auto k0 = crypto::PrivateKey::generate(rng);
    auto k1 = crypto::PrivateKey::generate(rng);
    WalletVerifier verifier({k0.address(), k1.address()});
    WalletSigner signer(k0.clone());
    const Hash256 d = Subject::nullify(4).signing_digest(chain, 0);
    auto sig = signer.sign(d);
    EXPECT_TRUE(verifier.verify(0, d, sig));
    EXPECT_FALSE(verifier.verify(1, d, sig)) << "another validator's index";
    EXPECT_FALSE(verifier.verify(2, d, sig)) << "index outside the set";
    EXPECT_FALSE(verifier.verify(0, Subject::nullify(5).signing_digest(chain, 0), sig)) << "another digest";
    auto v27 = sig;
    v27[64] += 27;
    EXPECT_FALSE(verifier.verify(0, d, v27)) << "a second encoding of the same signature";
}

TEST(ConsensusTypes, CertificateVerificationNamesEachDefect) {
    Cluster cl(4);
    const Subject s = Subject::nullify(3);
    const Hash256 d = s.signing_digest(chain, 0);
    Certificate good{s, {}};
    for (std::uint32_t i = 0; i < 3; ++i) good.votes.emplace_back(i, cl.signers[i]->sign(d));
    EXPECT_TRUE(verify_certificate(good, chain, 0, *cl.verifier).has_value());
    auto few = good;
    few.votes.pop_back();
    EXPECT_EQ(verify_certificate(few, chain, 0, *cl.verifier).error(), CertificateError::too_few_votes);
    auto dup = good;
    dup.votes[2] = dup.votes[1];
    EXPECT_EQ(verify_certificate(dup, chain, 0, *cl.verifier).error(), CertificateError::unsorted_or_duplicate_signer);
    auto unknown = good;
    unknown.votes[2].first = 7;
    EXPECT_EQ(verify_certificate(unknown, chain, 0, *cl.verifier).error(), CertificateError::unknown_signer);
    auto forged = good;
    forged.votes[1].second[0] ^= 1;
    EXPECT_EQ(verify_certificate(forged, chain, 0, *cl.verifier).error(), CertificateError::bad_signature);
    EXPECT_FALSE(verify_certificate(good, chain + 1, 0, *cl.verifier).has_value()) << "replayed on another chain";
    EXPECT_FALSE(verify_certificate(good, chain, 1, *cl.verifier).has_value()) << "replayed in another epoch";
}

TEST(SimplexCore, OneValidatorFinalizesEachViewAlone) {
    Cluster cl(1);
    cl.max_build_view = 3;
    cl.start_all();
    ASSERT_EQ(cl.finalized[0].size(), 3u);
    EXPECT_EQ(cl.finalized[0][0].view, 1u);
    EXPECT_EQ(cl.finalized[0][0].parent, cl.genesis);
    EXPECT_EQ(cl.finalized[0][2].parent, cl.finalized[0][1].digest);
    // Each finalization moves to the next view, whose leader is again the only validator.
    EXPECT_EQ(cl.cores[0]->view(), 4u);
    // Its votes: notarize and finalize per view, nothing else.
    EXPECT_EQ(cl.journal[0].size(), 6u);
}

TEST(SimplexCore, FourValidatorsFinalizeAChainInOrder) {
    Cluster cl(4);
    cl.start_all();
    for (TimeMs t = 1; t <= 20; ++t) cl.advance(t);
    for (std::uint32_t i = 0; i < 4; ++i) {
        ASSERT_GE(cl.finalized[i].size(), 5u) << "validator " << i;
        for (std::size_t k = 1; k < cl.finalized[i].size(); ++k) {
            EXPECT_EQ(cl.finalized[i][k].parent, cl.finalized[i][k - 1].digest);
            EXPECT_EQ(cl.finalized[i][k].view, cl.finalized[i][k - 1].view + 1) << "no view should fail";
        }
        EXPECT_EQ(cl.finalized[i][3], cl.finalized[0][3]);
    }
}

TEST(SimplexCore, SilentLeaderIsNullifiedAfterTheTimeoutAndTheNextLeaderExtendsTheLastNotarized) {
    Cluster cl(4);
    cl.down.insert(1);  // the leader of view 1 never speaks
    cl.start_all();
    cl.deliver_all();
    EXPECT_EQ(cl.cores[0]->view(), 1u);
    cl.advance(999);
    EXPECT_EQ(cl.cores[0]->view(), 1u) << "nullified before the leader timeout";
    cl.advance(1'000);
    ASSERT_GE(cl.cores[0]->view(), 2u);
    for (std::uint32_t i : {0u, 2u, 3u}) {
        ASSERT_FALSE(cl.journal[i].empty());
        EXPECT_EQ(cl.journal[i][0].subject, Subject::nullify(1));
    }
    // View 2's leader (2) proposes on genesis: view 1 was nullified.
    for (TimeMs t = 1'001; t < 1'010; ++t) cl.advance(t);
    ASSERT_FALSE(cl.finalized[0].empty());
    EXPECT_EQ(cl.finalized[0][0].view, 2u);
    EXPECT_EQ(cl.finalized[0][0].parent_view, 0u);
    EXPECT_EQ(cl.finalized[0][0].parent, cl.genesis);
}

TEST(SimplexCore, TimeoutsDoubleWhileViewsFailAndResetAfterANotarization) {
    Cluster cl(4);
    Core& c = *cl.cores[0];
    Actions a = c.start(0);
    EXPECT_EQ(a.timer, std::optional<TimeMs>(1'000)) << "view 1: the base leader timeout";
    auto cert_for = [&](const Subject& s) {
        Certificate cert{s, {}};
        for (std::uint32_t i : {1u, 2u, 3u})
            cert.votes.emplace_back(i, cl.signers[i]->sign(s.signing_digest(chain, 0)));
        return cert;
    };
    a = c.on_certificate(10, 1, cert_for(Subject::nullify(1)));
    ASSERT_EQ(c.view(), 2u);
    EXPECT_EQ(a.timer, std::optional<TimeMs>(10 + 2'000)) << "one failed view doubles the timeout";
    a = c.on_certificate(20, 1, cert_for(Subject::nullify(2)));
    ASSERT_EQ(c.view(), 3u);
    EXPECT_EQ(a.timer, std::optional<TimeMs>(20 + 4'000)) << "two failed views: four times";
    a = c.on_certificate(30, 1, cert_for(Subject::notarize(Proposal{3, 0, cl.genesis, h(0x33)})));
    ASSERT_EQ(c.view(), 4u);
    EXPECT_EQ(a.timer, std::optional<TimeMs>(30 + 1'000)) << "a notarized view resets the backoff";
}

TEST(SimplexCore, NeverFinalizesAViewItNullified) {
    Cluster cl(4);
    cl.down.insert(1);
    cl.start_all();
    cl.advance(1'000);  // 0, 2, 3 nullify view 1
    // A notarization for view 1 arrives late (the leader was slow, not dead): node 0 must not finalize view 1.
    const Proposal p{1, 0, cl.genesis, h(0x42)};
    Certificate cert{Subject::notarize(p), {}};
    for (std::uint32_t i : {1u, 2u, 3u})
        cert.votes.emplace_back(i, cl.signers[i]->sign(cert.subject.signing_digest(chain, 0)));
    auto before = cl.journal[0].size();
    cl.apply(0, cl.cores[0]->on_certificate(cl.now, 1, cert));
    for (std::size_t k = before; k < cl.journal[0].size(); ++k)
        EXPECT_FALSE(cl.journal[0][k].subject.kind == VoteKind::finalize && cl.journal[0][k].subject.view() == 1)
            << "finalize after nullify in view 1";
}

TEST(SimplexCore, AtMostOneNotarizePerViewEvenWhenTheLeaderEquivocates) {
    Cluster cl(4);
    cl.down = {1};  // we play the leader of view 1 by hand
    cl.start_all();
    auto propose = [&](std::uint8_t tag) {
        const Proposal p{1, 0, cl.genesis, h(tag)};
        const Vote v{Subject::notarize(p), 1, cl.signers[1]->sign(Subject::notarize(p).signing_digest(chain, 0))};
        cl.apply(0, cl.cores[0]->on_proposal(cl.now, 1, v));
    };
    propose(0x51);
    propose(0x52);
    std::size_t notarizes = 0;
    for (const Vote& v : cl.journal[0]) notarizes += v.subject.kind == VoteKind::notarize && v.subject.view() == 1;
    EXPECT_EQ(notarizes, 1u);
    EXPECT_EQ(cl.cores[0]->stats().equivocations, 1u);
}

TEST(SimplexCore, DoubleSignsAreReportedOnceAsEvidenceAndForgedOnesNever) {
    Cluster cl(4);
    cl.down = {1};
    cl.start_all();
    const auto signed_by = [&](ValidatorIndex who, const Subject& s) {
        return Vote{s, who, cl.signers[who]->sign(s.signing_digest(chain, 0))};
    };
    const auto leader_vote = [&](std::uint8_t tag) {
        return signed_by(1, Subject::notarize(Proposal{1, 0, cl.genesis, h(tag)}));
    };
    Core& core = *cl.cores[0];
    const Vote first = leader_vote(0x51), second = leader_vote(0x52);
    EXPECT_TRUE(core.on_proposal(cl.now, 1, first).evidence.empty());
    Vote forged = second;
    forged.signature[0] ^= 1;
    EXPECT_TRUE(core.on_proposal(cl.now, 1, forged).evidence.empty()) << "a forged second vote is no evidence";
    const Actions a = core.on_proposal(cl.now, 1, second);
    ASSERT_EQ(a.evidence.size(), 1u) << "the real second vote is, after the forged one";
    EXPECT_EQ(a.evidence[0].first, first);
    EXPECT_EQ(a.evidence[0].second, second);
    EXPECT_TRUE(core.on_proposal(cl.now, 1, leader_vote(0x53)).evidence.empty()) << "once per signer and view";
    // Plain votes: validator 2 finalizes two proposals of view 1.
    const Vote f1 = signed_by(2, Subject::finalize(Proposal{1, 0, cl.genesis, h(0x51)}));
    const Vote f2 = signed_by(2, Subject::finalize(Proposal{1, 0, cl.genesis, h(0x54)}));
    EXPECT_TRUE(core.on_vote(cl.now, 2, f1).evidence.empty());
    EXPECT_TRUE(core.on_vote(cl.now, 2, f1).evidence.empty()) << "the same vote again is no evidence";
    const Actions b = core.on_vote(cl.now, 2, f2);
    ASSERT_EQ(b.evidence.size(), 1u);
    EXPECT_EQ(b.evidence[0].first, f1);
    EXPECT_EQ(b.evidence[0].second, f2);
    EXPECT_EQ(core.stats().equivocations, 4u);
    // Validator 3 nullifies view 1 and finalizes in it.
    const Vote n3 = signed_by(3, Subject::nullify(1));
    const Vote f3 = signed_by(3, Subject::finalize(Proposal{1, 0, cl.genesis, h(0x51)}));
    EXPECT_TRUE(core.on_vote(cl.now, 3, n3).evidence.empty());
    const Actions c = core.on_vote(cl.now, 3, f3);
    ASSERT_EQ(c.evidence.size(), 1u);
    EXPECT_EQ(c.evidence[0].first, n3);
    EXPECT_EQ(c.evidence[0].second, f3);
}

TEST(SimplexCore, AVoteNamingABlocksDigestWithAnotherParentIsAVoteOnAnotherProposal) {
    Cluster cl(7);  // quorum 5
    cl.start_all();
    Core& core = *cl.cores[0];
    const auto vote = [&](ValidatorIndex who, const Subject& s) {
        return Vote{s, who, cl.signers[who]->sign(s.signing_digest(chain, 0))};
    };
    const Proposal real{1, 0, cl.genesis, h(0x71)};
    Proposal twisted = real;  // the same block digest, another parent
    twisted.parent = h(0x99);
    std::vector<Certificate> finalized;
    std::vector<std::pair<Vote, Vote>> evidence;
    const auto deliver = [&](ValidatorIndex who, const Proposal& p) {
        Actions a = core.on_vote(cl.now, who, vote(who, Subject::finalize(p)));
        finalized.insert(finalized.end(), a.finalized.begin(), a.finalized.end());
        evidence.insert(evidence.end(), a.evidence.begin(), a.evidence.end());
    };
    // Validator 3 finalizes the twisted proposal first, then the real one: it double-signed.
    deliver(3, twisted);
    deliver(1, real);
    deliver(3, real);
    deliver(2, real);
    deliver(4, real);
    deliver(5, real);
    EXPECT_TRUE(finalized.empty()) << "validator 3's vote on the twisted proposal counted for the real one";
    deliver(6, real);
    ASSERT_EQ(finalized.size(), 1u) << "five honest votes on the real proposal finalize it";
    EXPECT_EQ(finalized[0].subject.proposal, real);
    EXPECT_TRUE(verify_certificate(finalized[0], chain, 0, *cl.verifier)) << "every signature verifies";
    ASSERT_EQ(evidence.size(), 1u) << "only validator 3 double-signed";
    EXPECT_EQ(evidence[0].first.signer, 3u);
    EXPECT_EQ(evidence[0].first.subject.proposal, twisted);
    EXPECT_EQ(evidence[0].second.subject.proposal, real);
}

TEST(SimplexCore, ACertificateRevealsALeaderThatShowedOthersAnotherProposal) {
    Cluster cl(4);
    cl.down = {1};
    cl.start_all();
    Core& core = *cl.cores[0];
    const auto vote = [&](ValidatorIndex who, const Subject& s) {
        return Vote{s, who, cl.signers[who]->sign(s.signing_digest(chain, 0))};
    };
    const Subject mine = Subject::notarize(Proposal{1, 0, cl.genesis, h(0x61)});
    const Subject theirs = Subject::notarize(Proposal{1, 0, cl.genesis, h(0x62)});
    const Vote shown = vote(1, mine);
    EXPECT_TRUE(core.on_proposal(cl.now, 1, shown).evidence.empty());
    // The other half notarized the leader's other proposal; its certificate arrives.
    Certificate cert{theirs, {}};
    for (ValidatorIndex i : {1u, 2u, 3u}) cert.votes.emplace_back(i, vote(i, theirs).signature);
    const Actions a = core.on_certificate(cl.now, 2, cert);
    ASSERT_EQ(a.evidence.size(), 1u) << "only the leader signed both";
    EXPECT_EQ(a.evidence[0].first, shown);
    EXPECT_EQ(a.evidence[0].second, vote(1, theirs));
}

TEST(ConsensusTypes, CoreEvidenceIsLedgerDoubleSignEvidence) {
    crypto::SeededRng rng(8);
    const crypto::Address address = crypto::PrivateKey::generate(rng).address();
    crypto::SeededRng again(8);
    const WalletSigner signer(crypto::PrivateKey::generate(again));
    const auto vote = [&](std::uint8_t tag) {
        const Subject s = Subject::notarize(Proposal{7, 6, h(0xaa), h(tag)});
        return Vote{s, 2, signer.sign(s.signing_digest(chain, 3))};
    };
    const ledger::EvidencePayload e = to_evidence(3, vote(1), vote(2));
    auto who = ledger::double_signer(chain, e);
    ASSERT_TRUE(who.has_value()) << ledger::describe(who.error());
    EXPECT_EQ(*who, address);
    EXPECT_FALSE(ledger::double_signer(chain, to_evidence(4, vote(1), vote(2))).has_value())
        << "the epoch is part of what was signed";
}

TEST(SimplexCore, RestoredJournalForbidsASecondNotarizeAndResumesInThatView) {
    Cluster cl(4);
    const Proposal mine{3, 0, cl.genesis, h(0x61)};
    const Vote journaled{Subject::notarize(mine), 0,
                         cl.signers[0]->sign(Subject::notarize(mine).signing_digest(chain, 0))};
    CoreConfig cfg = cl.cores[0]->config();
    Core core(cfg, *cl.verifier, cl.signers[0].get(), 0, cl.genesis);
    core.restore({journaled});
    Actions a = core.start(0);
    EXPECT_EQ(core.view(), 3u);
    EXPECT_TRUE(a.journal.empty());
    // The leader of view 3 (3) proposes something else: no second notarize.
    Certificate nulls1{Subject::nullify(1), {}}, nulls2{Subject::nullify(2), {}};
    for (std::uint32_t i : {1u, 2u, 3u}) {
        nulls1.votes.emplace_back(i, cl.signers[i]->sign(nulls1.subject.signing_digest(chain, 0)));
        nulls2.votes.emplace_back(i, cl.signers[i]->sign(nulls2.subject.signing_digest(chain, 0)));
    }
    (void)core.on_certificate(0, 1, nulls1);
    (void)core.on_certificate(0, 1, nulls2);
    const Proposal other{3, 0, cl.genesis, h(0x62)};
    Actions b = core.on_proposal(
        0, 3,
        Vote{Subject::notarize(other), 3, cl.signers[3]->sign(Subject::notarize(other).signing_digest(chain, 0))});
    EXPECT_TRUE(b.verify.empty()) << "asked to verify a proposal it may no longer vote for";
    EXPECT_TRUE(b.journal.empty());
    // A journal from another key is a programmer error in the engine's checks, not input.
}

TEST(SimplexCore, ForgedAndFarFutureVotesChangeNothing) {
    Cluster cl(4);
    cl.start_all();
    Core& c = *cl.cores[0];
    const View before = c.view();
    Vote forged{Subject::nullify(1), 2, cl.signers[3]->sign(Subject::nullify(1).signing_digest(chain, 0))};
    (void)c.on_vote(0, 2, forged);
    EXPECT_EQ(c.stats().votes_rejected, 1u);
    Vote far{Subject::nullify(1'000'000), 2, cl.signers[2]->sign(Subject::nullify(1'000'000).signing_digest(chain, 0))};
    Actions a = c.on_vote(0, 2, far);
    EXPECT_EQ(c.stats().votes_dropped, 1u);
    EXPECT_EQ(c.view(), before);
    // The far-future vote makes the node ask that peer where the chain is.
    ASSERT_EQ(a.messages.size(), 1u);
    EXPECT_EQ(a.messages[0].message.type, MessageType::sync_request);
    EXPECT_EQ(a.messages[0].to, std::optional<PeerId>(2));
    // A certificate with a forged signature is refused.
    Certificate cert{Subject::nullify(1), {}};
    for (std::uint32_t i : {1u, 2u, 3u})
        cert.votes.emplace_back(i, cl.signers[i]->sign(cert.subject.signing_digest(chain, 0)));
    cert.votes[1].second[5] ^= 1;
    (void)c.on_certificate(0, 1, cert);
    EXPECT_EQ(c.stats().certificates_rejected, 1u);
    EXPECT_EQ(c.view(), before);
}

TEST(SimplexCore, SyncAnswersAreLimitedToOnePerPeerPerRetryPeriod) {
    Cluster cl(4);
    cl.start_all();
    for (TimeMs t = 1; t <= 20; ++t) cl.advance(t);
    Core& c = *cl.cores[0];
    ASSERT_GE(c.finalized_view(), 2u);
    const SyncRequest behind{0, 1};
    Actions first = c.on_sync_request(100, 3, behind);
    ASSERT_FALSE(first.messages.empty()) << "a lagging peer gets certificates";
    for (const Outgoing& o : first.messages) EXPECT_EQ(o.to, std::optional<PeerId>(3));
    // A flood of requests within the retry period gets nothing: no amplification.
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(c.on_sync_request(100 + i, 3, behind).messages.empty());
    EXPECT_EQ(c.stats().sync_answers_refused, 100u);
    EXPECT_FALSE(c.on_sync_request(100, 2, behind).messages.empty()) << "another peer is not limited by peer 3";
    EXPECT_FALSE(c.on_sync_request(100 + c.config().retry_ms, 3, behind).messages.empty()) << "the limit is per period";
}

TEST(SimplexCore, LaggingValidatorCatchesUpFromSyncAnswers) {
    Cluster cl(4);
    cl.down = {3};
    cl.start_all();
    for (TimeMs t = 10; t <= 5'000; t += 10) cl.advance(t);
    ASSERT_GE(cl.finalized[0].size(), 3u);
    ASSERT_TRUE(cl.finalized[3].empty());
    cl.down.clear();
    // Validator 3 times out in its stale view, nullifies, and asks for certificates.
    for (TimeMs t = 5'010; t <= 20'000; t += 10) cl.advance(t);
    ASSERT_FALSE(cl.finalized[3].empty());
    EXPECT_GE(cl.cores[3]->finalized_view(), cl.finalized[0].back().view);
}

/// One validator's engine on the simulated runtime, restartable on the same storage.
struct SoloNode {
    runtime::SimScheduler sched{5};
    runtime::SimNodeTime time{sched, 1'700'000'000'000ULL};
    runtime::SimNetwork net{sched, 1, runtime::LinkModel{}};
    runtime::SimStorage storage{"solo"};
    FastVerifier verifier{{h(1)}};
    FastSigner signer{h(1)};
    std::unique_ptr<sim::SimApp> app;
    std::unique_ptr<Engine> engine;
    std::uint64_t finals = 0;
    std::uint64_t opened_height = 0;  ///< the final height read back from storage at the last start
    std::uint64_t compact_min_bytes = journal_compact_min_bytes;
    runtime::Storage* engine_storage = nullptr;  ///< what the engine writes to, when not `storage`
    std::string fatal;                           ///< what on_fatal said

    util::Result<void, std::string> start(ValidatorIndex self = 0) {
        engine.reset();
        app = std::make_unique<sim::SimApp>(
            0, h(0xee), [this](std::uint32_t, const sim::SimApplication::Final&) { ++finals; },
            [](std::uint32_t, const std::string& what) { FAIL() << what; });
        if (auto r = app->open(storage); !r) return util::unexpected(r.error());
        opened_height = app->height();
        CoreConfig cfg;
        cfg.chain_id = chain;
        cfg.validators = 1;
        cfg.self = self;
        cfg.min_block_interval_ms = 20;
        engine = std::make_unique<Engine>(runtime::Context{time, time, net.endpoint(0), sched.rng()},
                                          engine_storage ? *engine_storage : storage, *app, verifier, &signer, cfg);
        engine->compact_min_bytes = compact_min_bytes;
        engine->on_fatal = [this](const std::string& why) { fatal = why; };
        return engine->start();
    }
};

TEST(ConsensusEngine, RestartReplaysTheJournalAndGoesOnFromTheLastFinalBlock) {
    SoloNode n;
    ASSERT_TRUE(n.start().has_value());
    n.sched.run_until(1'000);
    const std::uint64_t height = n.app->height();
    ASSERT_GE(height, 10u) << "one validator makes a block per 20 ms";
    const View view = n.engine->core().view();
    ASSERT_TRUE(n.start().has_value());  // a clean restart on the same storage
    EXPECT_EQ(n.opened_height, height) << "a final block was lost across a clean restart";
    EXPECT_GE(n.engine->core().view(), view) << "resumed below a view it voted in";
    n.sched.run_until(2'000);
    EXPECT_GT(n.app->height(), height);
}

TEST(ConsensusEngine, TheJournalIsCompactedBelowFinalityAndARestartResumesFromIt) {
    SoloNode n;
    n.compact_min_bytes = 2'000;
    ASSERT_TRUE(n.start().has_value());
    n.sched.run_until(2'000);
    const auto compactions = n.engine->stats().journal_compactions;
    EXPECT_GE(compactions, 3u) << "about 100 blocks of journal records should compact several times";
    // Right after a compaction the journal holds only views above finality;
    // it never grows past twice the threshold (one block's records aside).
    const auto size = n.storage.contents(journal_file_name)->size();
    EXPECT_LT(size, 2u * 2'000 + 1'000);
    auto replay = runtime::Journal::open(n.storage, journal_file_name);
    ASSERT_TRUE(replay.has_value());
    const View final_view = n.app->finalized().first;
    std::size_t below = 0;
    for (const auto& rec : replay->records) {
        if (rec.empty() || rec[0] != journal_vote_tag) continue;
        auto vote = codec::decode<Vote>(util::ByteView(rec).subspan(1));
        ASSERT_TRUE(vote.has_value());
        below += vote->subject.view() + 20 < final_view;  // what the last compaction should have dropped
    }
    EXPECT_EQ(below, 0u) << "votes far below finality survived compaction";
    // A restart replays the compacted journal and goes on.
    const std::uint64_t height = n.app->height();
    ASSERT_TRUE(n.start().has_value());
    EXPECT_EQ(n.opened_height, height);
    n.sched.run_until(3'000);
    EXPECT_GT(n.app->height(), height);
}

/// The votes and certificates a journal holds, each with its view.
std::vector<std::pair<View, util::Bytes>> signed_records(runtime::SimStorage& storage) {
    std::vector<std::pair<View, util::Bytes>> out;
    auto content = storage.contents(journal_file_name);
    if (!content) return out;
    for (auto& rec : runtime::scan_journal(*content).records) {
        if (rec.empty()) continue;
        const util::ByteView body = util::ByteView(rec).subspan(1);
        if (rec[0] == journal_vote_tag) {
            auto v = codec::decode<Vote>(body);
            CONET_ASSERT(v.has_value());
            out.emplace_back(v->subject.view(), rec);
        } else if (rec[0] == journal_certificate_tag) {
            auto c = codec::decode<Certificate>(body);
            CONET_ASSERT(c.has_value());
            out.emplace_back(c->subject.view(), rec);
        }
    }
    return out;
}

TEST(ConsensusEngine, CompactionKeepsEveryVoteAndCertificateAboveFinalityInOrder) {
    SoloNode n;
    n.compact_min_bytes = 1'500;
    ASSERT_TRUE(n.start().has_value());
    std::size_t checked = 0;
    for (runtime::TimeMs t = 5; t <= 2'000; t += 5) {
        const auto before = signed_records(n.storage);
        const auto compactions = n.engine->stats().journal_compactions;
        n.sched.run_until(t);
        if (n.engine->stats().journal_compactions == compactions) continue;
        ASSERT_EQ(n.engine->stats().journal_compactions, compactions + 1) << "two compactions in 5 ms";
        const View final_view = n.app->finalized().first;
        std::vector<std::pair<View, util::Bytes>> kept;
        for (const auto& r : before)
            if (r.first > final_view) kept.push_back(r);
        const auto after = signed_records(n.storage);
        ASSERT_GE(after.size(), kept.size());
        for (std::size_t i = 0; i < kept.size(); ++i)
            ASSERT_EQ(after[i], kept[i]) << "record " << i << " (view " << kept[i].first << ") above finality "
                                         << final_view << " was lost or moved";
        for (const auto& r : after) EXPECT_GT(r.first, final_view);
        ++checked;
    }
    EXPECT_GE(checked, 3u);
    EXPECT_TRUE(n.fatal.empty()) << n.fatal;
}

/// Storage whose replace() fails, as a full disk would.
class NoReplaceStorage final : public runtime::Storage {
public:
    explicit NoReplaceStorage(runtime::SimStorage& inner) : m_inner(inner) {}
    runtime::StorageResult<std::unique_ptr<runtime::AppendFile>> open(std::string_view name) override {
        return m_inner.open(name);
    }
    runtime::StorageResult<std::unique_ptr<runtime::AppendFile>> replace(std::string_view, util::ByteView) override {
        return util::unexpected(runtime::StorageError::io);
    }
    runtime::StorageResult<void> remove(std::string_view name) override { return m_inner.remove(name); }
    std::string last_error() const override { return "write sim:solo/consensus.journal.new: No space left on device"; }

private:
    runtime::SimStorage& m_inner;
};

TEST(ConsensusEngine, AFailedCompactionIsFatalAndNothingIsWrittenAfterIt) {
    SoloNode n;
    NoReplaceStorage failing(n.storage);
    n.engine_storage = &failing;
    n.compact_min_bytes = 1'500;
    ASSERT_TRUE(n.start().has_value());
    n.sched.run_until(2'000);
    ASSERT_FALSE(n.fatal.empty()) << "the journal passed its compaction size but nothing failed";
    EXPECT_NE(n.fatal.find("No space left on device"), std::string::npos) << n.fatal;
    EXPECT_TRUE(n.engine->dead());
    const auto size = n.storage.contents(journal_file_name)->size();
    const auto height = n.app->height();
    n.sched.run_until(3'000);
    EXPECT_EQ(n.storage.contents(journal_file_name)->size(), size) << "the engine wrote after a fatal error";
    EXPECT_EQ(n.app->height(), height);
}

TEST(ConsensusEngine, RefusesAJournalSignedByAnotherValidator) {
    SoloNode n;
    {
        auto j = runtime::Journal::open(n.storage, journal_file_name);
        ASSERT_TRUE(j.has_value());
        util::Bytes rec{journal_vote_tag};
        util::append(rec, codec::encode(Vote{Subject::nullify(3), 7, FastSigner::mac(h(8), h(9))}));
        ASSERT_TRUE(j->journal.append_sync(rec).has_value());
    }
    auto r = n.start();
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("validator 7"), std::string::npos) << r.error();
}

TEST(ConsensusEpochs, OneValidatorCrossesEpochsDeletesEndedJournalsAndRestartsInItsEpoch) {
    runtime::SimScheduler sched{5};
    runtime::SimNodeTime time{sched, 1'700'000'000'000ULL};
    runtime::SimNetwork net{sched, 1, runtime::LinkModel{}};
    runtime::SimStorage storage{"solo"};
    FastSigner signer{h(1)};
    std::unique_ptr<sim::SimApp> app;
    std::unique_ptr<Epochs> epochs;
    std::vector<std::uint64_t> sets_asked;
    const auto start = [&] {
        epochs.reset();
        app = std::make_unique<sim::SimApp>(
            0, h(0xee), [](std::uint32_t, const sim::SimApplication::Final&) {},
            [](std::uint32_t, const std::string& what) { ADD_FAILURE() << what; }, 3);
        ASSERT_TRUE(app->open(storage).has_value());
        CoreConfig cfg;
        cfg.chain_id = chain;
        cfg.min_block_interval_ms = 20;
        epochs = std::make_unique<Epochs>(
            runtime::Context{time, time, net.endpoint(0), sched.rng()}, storage, *app,
            [&](std::uint64_t e) {
                sets_asked.push_back(e);
                EpochSet set;
                set.verifier = std::make_unique<FastVerifier>(std::vector<Hash256>{h(1)});
                set.self = 0;
                set.signer = &signer;
                return set;
            },
            cfg);
        ASSERT_TRUE(epochs->start().has_value());
    };
    start();
    sched.run_until(1'000);
    const std::uint64_t epoch = epochs->epoch();
    ASSERT_GE(epoch, 3u) << "three blocks per epoch at one block per 20 ms";
    // The leader is handed its parent's certificate (SimApp checks it names
    // the parent), except on genesis and on the previous epoch's last block:
    // two of each epoch's three blocks.
    EXPECT_GE(app->builds_with_parent_certificate(), 2 * (epoch - 1));
    EXPECT_LE(app->builds_with_parent_certificate(), 2 * (epoch + 1));
    EXPECT_EQ(app->epoch(), epoch);
    // Each epoch asked for its set once, in order.
    ASSERT_GE(sets_asked.size(), epoch + 1);
    for (std::uint64_t e = 0; e < sets_asked.size(); ++e) EXPECT_EQ(sets_asked[e], e);
    // Every block is at the height its epoch allows: epoch e is heights 3e+1 .. 3e+3.
    EXPECT_GE(app->height(), 3 * epoch);
    EXPECT_LE(app->height(), 3 * epoch + 3);
    // Only the running epoch keeps a journal.
    for (std::uint64_t e = 0; e < epoch; ++e)
        EXPECT_FALSE(storage.contents(journal_name(e)).has_value()) << "epoch " << e << "'s journal was kept";
    EXPECT_TRUE(storage.contents(journal_name(epoch)).has_value());
    // A restart opens the epoch the final chain is in and goes on.
    const std::uint64_t height = app->height();
    sets_asked.clear();
    start();
    EXPECT_EQ(epochs->epoch(), epoch);
    EXPECT_EQ(sets_asked, std::vector<std::uint64_t>{epoch});
    sched.run_until(2'000);
    EXPECT_GT(app->height(), height);
    EXPECT_GT(epochs->epoch(), epoch);
}

TEST(ConsensusEpochs, PeersInOtherEpochsGetOneAnswerPerRetryPeriodAndAForgedCertificateIsRefused) {
    // Endpoint 0 runs a one-validator chain with 2-block epochs; endpoint 1
    // is a peer that floods it with messages of earlier and later epochs.
    runtime::SimScheduler sched{9};
    runtime::SimNodeTime time{sched, 1'700'000'000'000ULL};
    runtime::SimNetwork net{sched, 2, runtime::LinkModel{}};
    runtime::SimStorage storage{"v"};
    FastSigner signer{h(1)};
    sim::SimApp app(
        0, h(0xee), [](std::uint32_t, const sim::SimApplication::Final&) {},
        [](std::uint32_t, const std::string& what) { ADD_FAILURE() << what; }, 2);
    ASSERT_TRUE(app.open(storage).has_value());
    CoreConfig cfg;
    cfg.chain_id = chain;
    cfg.min_block_interval_ms = 20;
    cfg.retry_ms = 300;
    Epochs epochs(
        runtime::Context{time, time, net.endpoint(0), sched.rng()}, storage, app,
        [&](std::uint64_t) {
            EpochSet set;
            set.verifier = std::make_unique<FastVerifier>(std::vector<Hash256>{h(1)});
            set.self = 0;
            set.signer = &signer;
            set.members = {0};
            return set;
        },
        cfg);
    std::vector<Message> replies;
    net.endpoint(1).set_handler([&](runtime::PeerId, util::ByteView bytes) {
        if (auto m = Message::decode(bytes)) replies.push_back(*m);
    });
    ASSERT_TRUE(epochs.start().has_value());
    sched.run_until(500);
    ASSERT_GE(epochs.epoch(), 3u);
    const auto sent = [&](std::uint64_t epoch, Message m) {
        m.epoch = epoch;
        net.endpoint(1).send(0, m.encode());
    };
    // A flood from epoch 0 (ended): each burst within one retry period gets one epoch-end certificate.
    replies.clear();
    const std::uint64_t answered_before = epochs.epoch_ends_sent();
    for (int i = 0; i < 200; ++i) sent(0, Message::of(SyncRequest{0, 1}));
    sched.run_until(sched.now() + 50);  // a round trip is at most 20 ms
    std::size_t certs = 0;
    for (const auto& m : replies)
        if (m.type == MessageType::certificate && m.epoch == 0) {
            ++certs;
            ASSERT_TRUE(verify_certificate(*m.certificate, chain, 0, FastVerifier({h(1)})).has_value());
            EXPECT_EQ(m.certificate->subject.kind, VoteKind::finalize);
        }
    EXPECT_EQ(certs, 1u) << "200 messages of an ended epoch within one retry period";
    EXPECT_EQ(epochs.epoch_ends_sent(), answered_before + 1);
    // A flood claiming a far later epoch: one question back per retry period, and no move.
    replies.clear();
    const std::uint64_t epoch = epochs.epoch();
    for (int i = 0; i < 200; ++i) sent(epoch + 1000, Message::of(SyncRequest{0, 1}));
    sched.run_until(sched.now() + 50);  // a round trip is at most 20 ms
    std::size_t questions = 0;
    for (const auto& m : replies) questions += m.type == MessageType::sync_request && m.epoch == epoch;
    EXPECT_EQ(questions, 1u);
    // A flood of the next epoch's votes is held only up to its bound.
    const std::uint64_t next = epochs.epoch() + 1;
    for (int i = 0; i < 1'000; ++i) sent(next, Message::of(Vote{Subject::nullify(1 + i), 0, {}}));
    sched.run_until(sched.now() + 10);
    ASSERT_EQ(epochs.epoch() + 1, next) << "the epoch moved during the flood (the run is deterministic: pick "
                                           "another moment)";
    EXPECT_EQ(epochs.next_epoch_held(), cfg.max_next_epoch_messages);
    EXPECT_GE(epochs.next_epoch_refused(), 1'000u - cfg.max_next_epoch_messages);
    // A forged certificate for the current epoch: refused by its engine.
    const std::uint64_t height = app.height();
    const auto rejected = epochs.certificates_rejected();
    Certificate forged{Subject::finalize(Proposal{1'000, 999, h(7), h(8)}), {{0, FastSigner(h(2)).sign(h(3))}}};
    sent(epochs.epoch(), Message::of(forged));
    sched.run_until(sched.now() + 50);  // a round trip is at most 20 ms
    EXPECT_EQ(epochs.certificates_rejected(), rejected + 1);
    EXPECT_GE(app.height(), height);
    EXPECT_FALSE(epochs.dead());
}

TEST(ConsensusEngine, CorruptionBeforeTheTailStopsWithPathAndOffsetAndATornTailIsCut) {
    SoloNode n;
    ASSERT_TRUE(n.start().has_value());
    n.sched.run_until(300);
    n.engine.reset();
    // A torn tail: a few bytes of an unfinished append.
    {
        auto f = n.storage.open(journal_file_name);
        ASSERT_TRUE(f.has_value());
        const util::Bytes junk{0x10, 0x00, 0x00};
        ASSERT_TRUE((*f)->append(junk).has_value());
    }
    ASSERT_TRUE(n.start().has_value());
    EXPECT_EQ(n.engine->stats().journal_cut_bytes, 3u);
    n.engine.reset();
    // A flipped byte inside the first record, with intact records after it.
    n.storage.corrupt_byte(journal_file_name, 12);
    auto r = n.start();
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("sim:solo/consensus.journal"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("offset 0"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace conet::consensus

namespace conet::sim {
namespace {

TEST(SimAppEpochs, TheLastBlockIsProposedAgainNothingExtendsItInItsEpochAndTheNextEpochStartsFromIt) {
    using consensus::Certificate;
    using consensus::Proposal;
    using consensus::Subject;
    using consensus::Verdict;
    const Hash256 genesis = consensus::h(0xee);
    runtime::SimStorage storage{"epochs"};
    auto make = [&] {
        return std::make_unique<SimApp>(
            0, genesis, [](std::uint32_t, const SimApplication::Final&) {},
            [](std::uint32_t, const std::string& what) { ADD_FAILURE() << what; }, 2);
    };
    auto app = make();
    ASSERT_TRUE(app->open(storage).has_value());
    const auto final_cert = [](const Proposal& p) { return Certificate{Subject::finalize(p), {}}; };
    // Epoch 0 is heights 1 and 2.
    const auto d1 = app->build(0, Proposal{1, 0, genesis, {}}, 0, nullptr);
    ASSERT_TRUE(d1.has_value());
    EXPECT_FALSE(app->finalize(0, final_cert(Proposal{1, 0, genesis, *d1})).has_value());
    const auto d2 = app->build(0, Proposal{2, 1, *d1, {}}, 0, nullptr);
    ASSERT_TRUE(d2.has_value());
    EXPECT_EQ(app->epoch(), 0u);
    // On the last block a leader proposes that block again; only the last block may be re-proposed.
    EXPECT_EQ(app->build(0, Proposal{3, 2, *d2, {}}, 0, nullptr), d2);
    EXPECT_EQ(app->verify(0, Proposal{3, 2, *d2, *d2}).verdict, Verdict::valid);
    EXPECT_EQ(app->verify(0, Proposal{2, 1, *d1, *d1}).verdict, Verdict::invalid);
    // A block that extends the last block within its epoch is refused, and so
    // is a next-epoch block offered to this epoch's engine.
    SimBlock beyond{3, 2, *d2, 3, 1, 0, true, {}};
    const auto b = app->receive(beyond.encode());
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(app->verify(0, Proposal{3, 2, *d2, b->digest}).verdict, Verdict::invalid);
    SimBlock next{3, 2, *d2, 3, 1, 1, true, {}};
    const auto n = app->receive(next.encode());
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->epoch, 1u);
    EXPECT_EQ(app->verify(0, Proposal{3, 2, *d2, n->digest}).verdict, Verdict::invalid);
    // The re-proposal's certificate finalizes the last block: epoch 1 starts
    // from it, its views above the block's own view (2).
    const Certificate end = final_cert(Proposal{3, 2, *d2, *d2});
    EXPECT_FALSE(app->finalize(0, end).has_value());
    EXPECT_EQ(app->epoch(), 1u);
    EXPECT_EQ(app->finalized(), std::make_pair(View{2}, *d2));
    ASSERT_TRUE(app->epoch_end(0).has_value());
    EXPECT_EQ(*app->epoch_end(0), end);
    EXPECT_FALSE(app->epoch_end(1).has_value()) << "epoch 1 has not ended";
    // Epoch 1's first block builds on it and is a block of epoch 1 only.
    const auto d3 = app->build(1, Proposal{3, 2, *d2, {}}, 0, nullptr);
    ASSERT_TRUE(d3.has_value());
    EXPECT_NE(*d3, *d2);
    EXPECT_EQ(app->verify(1, Proposal{3, 2, *d2, *d3}).verdict, Verdict::valid);
    EXPECT_EQ(app->verify(0, Proposal{3, 2, *d2, *d3}).verdict, Verdict::invalid);
    // A restart reads the chain and the epoch-end certificate back.
    app = make();
    ASSERT_TRUE(app->open(storage).has_value());
    EXPECT_EQ(app->epoch(), 1u);
    EXPECT_EQ(app->finalized(), std::make_pair(View{2}, *d2));
    ASSERT_TRUE(app->epoch_end(0).has_value());
    EXPECT_EQ(*app->epoch_end(0), end);
}

TEST(Simulator, EpochSeedsChangeTheSetAndLaggardsCatchUpFromEpochEndCertificates) {
    SimOptions o;
    o.fault_seconds = 10;
    o.epoch_blocks = 3;
    std::uint64_t reproposals = 0, epoch_ends = 0;
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        o.seed = seed;
        const SimResult r = run_simulation(o);
        EXPECT_TRUE(r.passed) << replay_command(o) << ": " << r.failure << " (" << r.scenario << ")";
        EXPECT_GE(r.epochs, 2u) << replay_command(o) << ": the set never rotated";
        reproposals += r.reproposals;
        epoch_ends += r.epoch_ends_sent;
    }
    EXPECT_GT(reproposals, 0u) << "no epoch's last block was ever proposed again";
    EXPECT_GT(epoch_ends, 0u) << "no node left behind was sent the certificate that ended its epoch";
    // The same seed twice gives the same trace with epochs too.
    o.seed = 2;
    EXPECT_EQ(run_simulation(o).trace_hash, run_simulation(o).trace_hash);
    // The ledger picks the sets by stake: validators bond through real
    // transactions, every node's ledger must store the same set for an epoch
    // (checked by the simulator), and consensus runs with it.
    o.ledger = true;
    std::uint64_t set_changes = 0, validators_paid = 0, jailings = 0, unjailings = 0, slashed = 0, grants = 0,
                  cut_off = 0;
    for (std::uint64_t seed : {3, 4, 5}) {
        o.seed = seed;
        const SimResult r = run_simulation(o);
        EXPECT_TRUE(r.passed) << replay_command(o) << ": " << r.failure << " (" << r.scenario << ")";
        EXPECT_GE(r.epochs, 2u) << replay_command(o);
        EXPECT_GT(r.transactions, 10u) << replay_command(o);
        EXPECT_NE(r.scenario.find("sets by stake"), std::string::npos) << r.scenario;
        set_changes += r.set_changes;
        validators_paid += r.validators_paid;
        jailings += r.jailings;
        unjailings += r.unjailings;
        slashed += r.slashed;
        grants += r.grants_paid;
        cut_off += r.users_cut_off;
    }
    EXPECT_GT(set_changes, 0u) << "bonds never changed a set";
    // The incentive scenarios ran (their invariants are checked inside every run).
    EXPECT_GT(validators_paid, 0u) << "no validator was paid for votes";
    EXPECT_GT(jailings, 0u) << "no relay was jailed";
    EXPECT_GT(unjailings, 0u) << "no jailed relay was unjailed";
    EXPECT_GT(slashed, 0u) << "no double-signer was slashed";
    EXPECT_GT(grants, 0u) << "no grant was paid";
    EXPECT_GT(cut_off, 0u) << "the exit never cut off the user whose balance ran out";
}

TEST(Simulator, SameSeedGivesTheSameTrace) {
    SimOptions o;
    o.seed = 7;
    o.fault_seconds = 10;
    const SimResult a = run_simulation(o);
    const SimResult b = run_simulation(o);
    ASSERT_TRUE(a.passed) << a.failure << " (" << a.scenario << ")";
    EXPECT_GT(a.messages, 100u);
    EXPECT_EQ(a.trace_hash, b.trace_hash);
    o.seed = 8;
    EXPECT_NE(run_simulation(o).trace_hash, a.trace_hash) << "the seed does not reach the run";
}

TEST(Simulator, SeedsPassWithSecp256k1Signatures) {
    SimOptions o;
    o.fault_seconds = 5;
    o.real_crypto = true;
    for (std::uint64_t seed : {1, 2}) {
        o.seed = seed;
        const SimResult r = run_simulation(o);
        EXPECT_TRUE(r.passed) << replay_command(o) << ": " << r.failure;
        EXPECT_GT(r.min_height, 0u);
    }
}

TEST(Simulator, LedgerSeedsFinalizeSignedTransfersUnderFaults) {
    SimOptions o;
    o.fault_seconds = 10;
    o.ledger = true;
    for (std::uint64_t seed : {3, 4}) {  // 3: crashes at injected points; 4: Twins
        o.seed = seed;
        const SimResult r = run_simulation(o);
        EXPECT_TRUE(r.passed) << replay_command(o) << ": " << r.failure;
        EXPECT_GT(r.transactions, 10u) << "the ledger finalized almost nothing";
    }
}

// Every seed that ever failed, with what it found (replay: conet sim --seed S).
TEST(Simulator, RegressionSeeds) {
    struct Case {
        std::uint64_t seed;
        std::uint32_t validators;
        const char* found;
        bool ledger = false;
    };
    const Case cases[] = {
        {15, 4, "livelock: restarted after journaling finalize(v), timer kept firing at once in view v"},
        {18, 4, "livelock after restart (twins)"},
        {20, 4, "livelock after restart (crash points)"},
        {27, 4, "every holder of a notarized block crashed: blocks are now journaled before notarize"},
        {114, 4, "leader could not build on a parent block it lacked: it now fetches it and tries an older parent"},
        {3, 4, "ledger: a proposal waiting for an ancestor re-requested its parent on every answer (request storm)",
         true},
        {3, 2, "2 validators, all crashed: no one held the certificate of one view any more (certificates journaled)"},
        {72036, 1, "1 validator, torn crash: its notarization survived in the journal but not the block it certifies"},
    };
    for (const Case& c : cases) {
        SimOptions o;
        o.seed = c.seed;
        o.validators = c.validators;
        o.ledger = c.ledger;
        const SimResult r = run_simulation(o);
        EXPECT_TRUE(r.passed) << replay_command(o) << " (" << c.found << "): " << r.failure;
    }
}

}  // namespace
}  // namespace conet::sim
