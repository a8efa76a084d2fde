#include "conet/ledger/evidence.hpp"

#include "conet/ledger/signature_codec.hpp"

namespace conet::ledger {

namespace {

std::string_view domain_of(VoteType t) {
    switch (t) {
        case VoteType::notarize: return "CONET/Simplex/Notarize/v1";
        case VoteType::finalize: return "CONET/Simplex/Finalize/v1";
        case VoteType::nullify: return "CONET/Simplex/Nullify/v1";
    }
    return {};
}

bool same_proposal(const SignedVote& a, const SignedVote& b) {
    return a.view == b.view && a.parent_view == b.parent_view && a.parent == b.parent && a.digest == b.digest;
}

}  // namespace

crypto::Hash256 SignedVote::signing_digest(std::uint64_t chain_id, std::uint64_t epoch) const {
    codec::Writer w;
    w.u64(chain_id);
    w.u64(epoch);
    w.u64(view);
    if (type != VoteType::nullify) {
        w.u64(parent_view);
        w.fixed(parent);
        w.fixed(digest);
    }
    crypto::Keccak256 h;
    h.update(util::as_bytes(domain_of(type))).update(w.data());
    return h.finish();
}

void SignedVote::encode(codec::Writer& w) const {
    w.u8(static_cast<std::uint8_t>(type));
    w.u64(view);
    w.u64(parent_view);
    w.fixed(parent);
    w.fixed(digest);
    w.fixed(signature.to_bytes(0));
}

codec::Result<SignedVote> SignedVote::decode(codec::Reader& r) {
    SignedVote v;
    auto type = r.u8();
    if (!type) return util::unexpected(type.error());
    if (*type < 1 || *type > 3) return util::unexpected(codec::CodecError::bad_value);
    v.type = static_cast<VoteType>(*type);
    auto view = r.u64();
    auto parent_view = view ? r.u64() : view;
    if (!parent_view) return util::unexpected(parent_view.error());
    v.view = *view;
    v.parent_view = *parent_view;
    auto parent = r.fixed<32>();
    auto digest = parent ? r.fixed<32>() : parent;
    if (!digest) return util::unexpected(digest.error());
    v.parent = *parent;
    v.digest = *digest;
    // A nullify names only its view: anything else would make two encodings of one vote.
    if (v.type == VoteType::nullify &&
        (v.parent_view != 0 || v.parent != crypto::Hash256{} || v.digest != crypto::Hash256{}))
        return util::unexpected(codec::CodecError::bad_value);
    auto sig = read_signature(r);
    if (!sig) return util::unexpected(sig.error());
    v.signature = *sig;
    return v;
}

void EvidencePayload::encode(codec::Writer& w) const {
    w.u64(epoch);
    a.encode(w);
    b.encode(w);
}

codec::Result<EvidencePayload> EvidencePayload::decode(codec::Reader& r) {
    EvidencePayload e;
    auto epoch = r.u64();
    if (!epoch) return util::unexpected(epoch.error());
    e.epoch = *epoch;
    auto a = SignedVote::decode(r);
    if (!a) return util::unexpected(a.error());
    auto b = SignedVote::decode(r);
    if (!b) return util::unexpected(b.error());
    e.a = *a;
    e.b = *b;
    return e;
}

std::string_view describe(EvidenceError e) {
    switch (e) {
        case EvidenceError::not_conflicting: return "the two votes do not conflict";
        case EvidenceError::bad_signature: return "a vote's signature does not recover";
        case EvidenceError::two_signers: return "the two votes are signed by different keys";
    }
    return "bad evidence";
}

util::Result<crypto::Address, EvidenceError> double_signer(std::uint64_t chain_id, const EvidencePayload& e) {
    const SignedVote& a = e.a;
    const SignedVote& b = e.b;
    if (a.view != b.view) return util::unexpected(EvidenceError::not_conflicting);
    const auto both = [&](VoteType x, VoteType y) {
        return (a.type == x && b.type == y) || (a.type == y && b.type == x);
    };
    const bool conflicting = (both(VoteType::notarize, VoteType::notarize) && !same_proposal(a, b)) ||
                             (both(VoteType::finalize, VoteType::finalize) && !same_proposal(a, b)) ||
                             both(VoteType::nullify, VoteType::finalize);
    if (!conflicting) return util::unexpected(EvidenceError::not_conflicting);
    auto ka = crypto::recover(a.signing_digest(chain_id, e.epoch), a.signature);
    auto kb = crypto::recover(b.signing_digest(chain_id, e.epoch), b.signature);
    if (!ka || !kb) return util::unexpected(EvidenceError::bad_signature);
    if (ka->address() != kb->address()) return util::unexpected(EvidenceError::two_signers);
    return ka->address();
}

}  // namespace conet::ledger
