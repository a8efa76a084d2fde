#include "conet/ledger/block.hpp"

#include <algorithm>

#include "conet/ledger/signature_codec.hpp"
#include "conet/util/assert.hpp"

namespace conet::ledger {

crypto::Hash256 Header::hash() const {
    return crypto::keccak256(codec::encode(*this));
}

namespace {

/// consensus::Subject::finalize(proposal).signing_digest(chain_id, epoch)
/// (pinned by a unit test): the same bytes the validators sign.
crypto::Hash256 finalize_digest(std::uint64_t chain_id, std::uint64_t epoch, std::uint64_t view,
                                std::uint64_t parent_view, const crypto::Hash256& parent,
                                const crypto::Hash256& digest) {
    codec::Writer w;
    w.u64(chain_id);
    w.u64(epoch);
    w.u64(view);
    w.u64(parent_view);
    w.fixed(parent);
    w.fixed(digest);
    crypto::Keccak256 h;
    h.update(util::as_bytes(finalize_domain)).update(w.data());
    return h.finish();
}

constexpr std::uint32_t reproposal_marker = 0xFFFFFFFF;

void encode_votes(codec::Writer& w, const std::vector<CertificateVote>& votes) {
    for (const auto& v : votes) {
        w.u32(v.validator);
        w.fixed(v.signature.to_bytes(0));
    }
}

codec::Result<std::vector<CertificateVote>> decode_votes(codec::Reader& r, std::size_t n) {
    std::vector<CertificateVote> votes;
    votes.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto index = r.u32();
        if (!index) return util::unexpected(index.error());
        auto sig = read_signature(r);
        if (!sig) return util::unexpected(sig.error());
        votes.push_back(CertificateVote{*index, *sig});
    }
    return votes;
}

/// Distinct members in ascending order, at least a quorum, each signing `digest`.
util::Result<void, CertificateError> verify_votes(const std::vector<CertificateVote>& votes,
                                                  const std::vector<crypto::Address>& validators,
                                                  const crypto::Hash256& digest) {
    if (validators.empty()) return util::unexpected(CertificateError::too_few_votes);
    // Cheap checks first: a forged certificate costs no signature recovery.
    for (std::size_t i = 0; i < votes.size(); ++i) {
        if (votes[i].validator >= validators.size()) return util::unexpected(CertificateError::unknown_signer);
        if (i > 0 && votes[i].validator <= votes[i - 1].validator)
            return util::unexpected(CertificateError::unsorted_or_duplicate_signer);
    }
    if (votes.size() < quorum(validators.size())) return util::unexpected(CertificateError::too_few_votes);
    for (const auto& v : votes) {
        auto pk = crypto::recover(digest, v.signature);
        if (!pk || pk->address() != validators[v.validator]) return util::unexpected(CertificateError::bad_signature);
    }
    return {};
}

}  // namespace

crypto::Hash256 Header::vote_digest(std::uint64_t epoch) const {
    return finalize_digest(chain_id, epoch, view, parent_view, parent, hash());
}

crypto::Hash256 certified_digest(const Header& header, const Certificate& cert, std::uint64_t epoch_blocks) {
    const std::uint64_t epoch = epoch_of(header.height, epoch_blocks);
    if (!cert.reproposal) return header.vote_digest(epoch);
    const crypto::Hash256 self = header.hash();
    return finalize_digest(header.chain_id, epoch, cert.reproposal->view, cert.reproposal->parent_view, self, self);
}

void Header::encode(codec::Writer& w) const {
    w.u64(chain_id);
    w.u64(height);
    w.u64(view);
    w.u64(parent_view);
    w.fixed(parent);
    w.u64(time_unix);
    w.fixed(proposer.bytes);
    w.fixed(tx_root);
    w.fixed(parent_certificate);
    w.fixed(state_root);
}

codec::Result<Header> Header::decode(codec::Reader& r) {
    Header h;
    auto chain = r.u64();
    auto height = chain ? r.u64() : chain;
    auto view = height ? r.u64() : height;
    auto parent_view = view ? r.u64() : view;
    if (!parent_view) return util::unexpected(parent_view.error());
    // A block extends an earlier view (genesis is view 0 with parent view 0).
    if (*parent_view > *view || (*view > 0 && *parent_view == *view))
        return util::unexpected(codec::CodecError::bad_value);
    auto parent = r.fixed<32>();
    if (!parent) return util::unexpected(parent.error());
    auto time = r.u64();
    if (!time) return util::unexpected(time.error());
    auto proposer = r.fixed<20>();
    auto tx_root = proposer ? r.fixed<32>() : codec::Result<crypto::Hash256>(util::unexpected(proposer.error()));
    auto parent_certificate = tx_root ? r.fixed<32>() : tx_root;
    auto state_root = parent_certificate ? r.fixed<32>() : parent_certificate;
    if (!state_root) return util::unexpected(state_root.error());
    h.chain_id = *chain;
    h.height = *height;
    h.view = *view;
    h.parent_view = *parent_view;
    h.parent = *parent;
    h.time_unix = *time;
    h.proposer.bytes = *proposer;
    h.tx_root = *tx_root;
    h.parent_certificate = *parent_certificate;
    h.state_root = *state_root;
    return h;
}

void Certificate::encode(codec::Writer& w) const {
    if (reproposal) {
        w.u32(reproposal_marker);
        w.u64(reproposal->view);
        w.u64(reproposal->parent_view);
    }
    w.count(votes.size());
    encode_votes(w, votes);
}

codec::Result<Certificate> Certificate::decode(codec::Reader& r) {
    Certificate c;
    auto first = r.u32();
    if (!first) return util::unexpected(first.error());
    std::optional<std::size_t> n;
    if (*first == reproposal_marker) {
        auto view = r.u64();
        auto parent_view = r.u64();
        if (!view || !parent_view) return util::unexpected(codec::CodecError::truncated);
        c.reproposal = Reproposal{*view, *parent_view};
        auto count = r.count(max_validators);
        if (!count) return util::unexpected(count.error());
        n = *count;
    } else {
        // The same checks as Reader::count.
        if (*first > max_validators) return util::unexpected(codec::CodecError::too_long);
        if (*first > r.remaining()) return util::unexpected(codec::CodecError::truncated);
        n = *first;
    }
    auto votes = decode_votes(r, *n);
    if (!votes) return util::unexpected(votes.error());
    c.votes = std::move(*votes);
    return c;
}

crypto::Hash256 ParentCertificate::hash() const {
    return empty() ? crypto::Hash256{} : crypto::keccak256(codec::encode(*this));
}

void ParentCertificate::encode(codec::Writer& w) const {
    w.count(votes.size());
    if (votes.empty()) return;
    w.u8(static_cast<std::uint8_t>(kind));
    encode_votes(w, votes);
}

codec::Result<ParentCertificate> ParentCertificate::decode(codec::Reader& r) {
    ParentCertificate c;
    auto n = r.count(max_validators);
    if (!n) return util::unexpected(n.error());
    if (*n == 0) return c;
    auto kind = r.u8();
    if (!kind) return util::unexpected(kind.error());
    // Only votes on a proposal certify a block: a nullification names none.
    if (*kind != static_cast<std::uint8_t>(VoteType::notarize) &&
        *kind != static_cast<std::uint8_t>(VoteType::finalize))
        return util::unexpected(codec::CodecError::bad_value);
    c.kind = static_cast<VoteType>(*kind);
    auto votes = decode_votes(r, *n);
    if (!votes) return util::unexpected(votes.error());
    c.votes = std::move(*votes);
    return c;
}

void Block::encode(codec::Writer& w) const {
    header.encode(w);
    parent_certificate.encode(w);
    w.count(transactions.size());
    for (const auto& tx : transactions) tx.encode(w);
    certificate.encode(w);
}

codec::Result<Block> Block::decode(codec::Reader& r) {
    Block b;
    auto h = Header::decode(r);
    if (!h) return util::unexpected(h.error());
    b.header = *h;
    auto parent_cert = ParentCertificate::decode(r);
    if (!parent_cert) return util::unexpected(parent_cert.error());
    b.parent_certificate = std::move(*parent_cert);
    auto n = r.count(max_block_txs);
    if (!n) return util::unexpected(n.error());
    std::size_t payload_bytes = 0;
    for (std::size_t i = 0; i < *n; ++i) {
        auto tx = Transaction::decode(r);
        if (!tx) return util::unexpected(tx.error());
        payload_bytes += tx->payload.size();
        if (payload_bytes > max_block_payload_bytes) return util::unexpected(codec::CodecError::too_long);
        b.transactions.push_back(std::move(*tx));
    }
    auto c = Certificate::decode(r);
    if (!c) return util::unexpected(c.error());
    b.certificate = std::move(*c);
    return b;
}

crypto::Hash256 transactions_root(const std::vector<Transaction>& txs) {
    if (txs.empty()) return crypto::Hash256{};
    std::vector<crypto::Hash256> level;
    level.reserve(txs.size());
    for (const auto& tx : txs) level.push_back(tx.hash());
    while (level.size() > 1) {
        std::vector<crypto::Hash256> next;
        for (std::size_t i = 0; i < level.size(); i += 2) {
            if (i + 1 == level.size()) {
                next.push_back(level[i]);
                continue;
            }
            const std::uint8_t tag = 0x01;
            crypto::Keccak256 h;
            h.update(util::ByteView(&tag, 1)).update(level[i]).update(level[i + 1]);
            next.push_back(h.finish());
        }
        level = std::move(next);
    }
    return level.front();
}

std::size_t quorum(std::size_t validators) {
    return validators - (validators == 0 ? 0 : (validators - 1) / 3);
}

std::string_view describe(CertificateError e) {
    switch (e) {
        case CertificateError::too_few_votes: return "certificate has fewer votes than a quorum";
        case CertificateError::unknown_signer: return "certificate vote from a non-validator";
        case CertificateError::unsorted_or_duplicate_signer:
            return "certificate votes are not in ascending validator order or count a validator twice";
        case CertificateError::bad_signature: return "certificate vote does not verify";
        case CertificateError::misplaced_reproposal:
            return "a re-proposal certificate on a block that does not end its epoch, or with views out of order";
    }
    return "unknown certificate error";
}

util::Result<void, CertificateError> verify_certificate(const Header& header, const Certificate& cert,
                                                        const std::vector<crypto::Address>& validators,
                                                        std::uint64_t epoch_blocks) {
    // Only an epoch's last block is ever proposed again, in a later view, on
    // itself notarized at or after its own view.
    if (cert.reproposal && (!ends_epoch(header.height, epoch_blocks) || cert.reproposal->parent_view < header.view ||
                            cert.reproposal->view <= cert.reproposal->parent_view))
        return util::unexpected(CertificateError::misplaced_reproposal);
    return verify_votes(cert.votes, validators, certified_digest(header, cert, epoch_blocks));
}

namespace {

/// The digest a vote of `kind` on `parent`'s own proposal signs.
crypto::Hash256 parent_digest(const Header& parent, VoteType kind, std::uint64_t epoch_blocks) {
    CONET_ASSERT(kind != VoteType::nullify);
    SignedVote vote;
    vote.type = kind;
    vote.view = parent.view;
    vote.parent_view = parent.parent_view;
    vote.parent = parent.parent;
    vote.digest = parent.hash();
    return vote.signing_digest(parent.chain_id, epoch_of(parent.height, epoch_blocks));
}

}  // namespace

util::Result<void, CertificateError> verify_parent_certificate(const Header& parent, const ParentCertificate& cert,
                                                               const std::vector<crypto::Address>& validators,
                                                               std::uint64_t epoch_blocks) {
    return verify_votes(cert.votes, validators, parent_digest(parent, cert.kind, epoch_blocks));
}

CertificateVote parent_vote(const Header& parent, VoteType kind, std::uint32_t index, const crypto::PrivateKey& key,
                            std::uint64_t epoch_blocks) {
    return CertificateVote{index, crypto::sign_hash(key, parent_digest(parent, kind, epoch_blocks))};
}

CertificateVote finalize_vote(const Header& header, std::uint32_t index, const crypto::PrivateKey& key,
                              std::uint64_t epoch_blocks) {
    return CertificateVote{index, crypto::sign_hash(key, header.vote_digest(epoch_of(header.height, epoch_blocks)))};
}

}  // namespace conet::ledger
