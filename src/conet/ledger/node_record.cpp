#include "conet/ledger/node_record.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>

#include "conet/codec/codec.hpp"
#include "conet/ledger/signature_codec.hpp"
#include "conet/util/hex.hpp"

namespace conet::ledger {

namespace json = boost::json;

std::string Endpoint::to_string() const {
    std::string out;
    const bool v6 = host.find(':') != std::string::npos;
    if (v6) out += '[';
    out += host;
    if (v6) out += ']';
    out += ':';
    out += std::to_string(port);
    return out;
}

util::Result<Endpoint, std::string> Endpoint::parse(std::string_view s, bool allow_zero_port) {
    const auto bad = [&] { return util::unexpected("expected HOST:PORT, got \"" + std::string(s) + "\""); };
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon + 1 >= s.size() || s.size() - colon - 1 > 5) return bad();
    std::string host(s.substr(0, colon));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned port = 0;
    for (char c : s.substr(colon + 1)) {
        if (c < '0' || c > '9') return bad();
        port = port * 10 + unsigned(c - '0');
    }
    if (host.empty() || port > 65535 || (port == 0 && !allow_zero_port)) return bad();
    return Endpoint{std::move(host), static_cast<std::uint16_t>(port)};
}

std::string_view describe(EndpointScope s) {
    switch (s) {
        case EndpointScope::public_address: return "public address";
        case EndpointScope::not_ip_literal: return "not an IP literal (relay names are never resolved)";
        case EndpointScope::unspecified: return "unspecified address";
        case EndpointScope::loopback: return "loopback address";
        case EndpointScope::private_network: return "private-network address";
        case EndpointScope::link_local: return "link-local address (e.g. cloud metadata)";
        case EndpointScope::shared_cgnat: return "carrier-grade NAT address";
        case EndpointScope::multicast: return "multicast address";
        case EndpointScope::reserved: return "reserved or documentation address";
    }
    return "unknown address scope";
}

namespace {

EndpointScope scope_v4(const boost::asio::ip::address_v4::bytes_type& b) {
    const auto in = [&](std::uint32_t net, unsigned bits) {
        const auto v = codec::load_be<std::uint32_t>(b.data());
        const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t(0) << (32 - bits);
        return (v & mask) == net;
    };
    if (in(0x00000000, 8)) return EndpointScope::unspecified;
    if (in(0x7f000000, 8)) return EndpointScope::loopback;
    if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16)) return EndpointScope::private_network;
    if (in(0xa9fe0000, 16)) return EndpointScope::link_local;
    if (in(0x64400000, 10)) return EndpointScope::shared_cgnat;
    if (in(0xe0000000, 4)) return EndpointScope::multicast;
    if (in(0xf0000000, 4) ||                                               // reserved, and 255.255.255.255
        in(0xc0000000, 24) ||                                              // IETF protocol assignments
        in(0xc0000200, 24) || in(0xc6336400, 24) || in(0xcb007100, 24) ||  // documentation
        in(0xc6120000, 15) ||                                              // benchmarking
        in(0xc0586300, 24))                                                // 6to4 relay anycast (deprecated)
        return EndpointScope::reserved;
    return EndpointScope::public_address;
}

}  // namespace

EndpointScope endpoint_scope(const Endpoint& e) {
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(e.host, ec);
    if (ec) return EndpointScope::not_ip_literal;
    if (addr.is_v4()) return scope_v4(addr.to_v4().to_bytes());
    const auto v6 = addr.to_v6();
    if (v6.scope_id() != 0) return EndpointScope::link_local;
    if (v6.is_v4_mapped()) return scope_v4(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_bytes());
    const auto b = v6.to_bytes();
    if (v6.is_unspecified()) return EndpointScope::unspecified;
    if (v6.is_loopback()) return EndpointScope::loopback;
    if (b[0] == 0xff) return EndpointScope::multicast;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return EndpointScope::link_local;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return EndpointScope::private_network;  // site-local (deprecated)
    if ((b[0] & 0xfe) == 0xfc) return EndpointScope::private_network;                  // unique local
    if ((b[0] & 0xe0) != 0x20) return EndpointScope::reserved;  // outside global unicast 2000::/3
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return EndpointScope::reserved;  // documentation
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) return EndpointScope::reserved;  // Teredo
    if (b[0] == 0x20 && b[1] == 0x02) return EndpointScope::reserved;  // 6to4: may wrap a private IPv4 address
    return EndpointScope::public_address;
}

const Endpoint* first_disallowed_endpoint(const std::vector<Endpoint>& endpoints, bool allow_private) {
    for (const auto& e : endpoints)
        if (!endpoint_allowed(e, allow_private)) return &e;
    return nullptr;
}

std::string_view describe(RecordError e) {
    switch (e) {
        case RecordError::malformed: return "malformed node record";
        case RecordError::bad_signature: return "node record signature is invalid";
        case RecordError::wrong_signer: return "node record is not signed by its operator";
        case RecordError::expired: return "node record has expired";
        case RecordError::bad_field: return "node record has an invalid field";
    }
    return "unknown node record error";
}

void NodeRecord::encode_fields(codec::Writer& w) const {
    w.fixed(operator_address.bytes);
    w.fixed(noise_key);
    w.count(endpoints.size());
    for (const auto& e : endpoints) {
        w.text(e.host);
        w.u16(e.port);
    }
    w.text(region);
    w.u8(capabilities);
    w.u64(expires_at);
}

crypto::Hash256 NodeRecord::signing_digest(std::uint64_t chain_id) const {
    codec::Writer w;
    w.u64(chain_id);
    encode_fields(w);
    crypto::Keccak256 h;
    h.update(util::as_bytes(node_record_domain)).update(w.data());
    return h.finish();
}

void NodeRecord::encode(codec::Writer& w) const {
    encode_fields(w);
    w.fixed(signature.to_bytes(0));
}

codec::Result<NodeRecord> NodeRecord::decode(codec::Reader& r) {
    NodeRecord n;
    auto addr = r.fixed<20>();
    auto key = addr ? r.fixed<32>() : codec::Result<util::ByteArray<32>>(util::unexpected(addr.error()));
    if (!key) return util::unexpected(key.error());
    n.operator_address.bytes = *addr;
    n.noise_key = *key;
    auto count = r.count(max_endpoints);
    if (!count) return util::unexpected(count.error());
    for (std::size_t i = 0; i < *count; ++i) {
        auto host = r.text(max_endpoint_host_bytes);
        if (!host) return util::unexpected(host.error());
        auto port = r.u16();
        if (!port) return util::unexpected(port.error());
        n.endpoints.push_back({std::move(*host), *port});
    }
    auto region = r.text(2);
    if (!region) return util::unexpected(region.error());
    n.region = std::move(*region);
    auto caps = r.u8();
    if (!caps) return util::unexpected(caps.error());
    n.capabilities = *caps;
    auto expires = r.u64();
    if (!expires) return util::unexpected(expires.error());
    n.expires_at = *expires;
    auto sig = read_signature(r);
    if (!sig) return util::unexpected(sig.error());
    n.signature = *sig;
    return n;
}

void NodeRecord::sign(const crypto::PrivateKey& key, std::uint64_t chain_id) {
    operator_address = key.address();
    signature = crypto::sign_hash(key, signing_digest(chain_id));
}

RecordResult<void> NodeRecord::verify(std::uint64_t chain_id, std::uint64_t now_unix) const {
    if (endpoints.empty() || endpoints.size() > max_endpoints || region.size() != 2 ||
        (capabilities & ~(capability_entry | capability_exit)) != 0 || capabilities == 0)
        return util::unexpected(RecordError::bad_field);
    for (const auto& e : endpoints)
        if (e.host.empty() || e.host.size() > max_endpoint_host_bytes || e.port == 0)
            return util::unexpected(RecordError::bad_field);
    auto pk = crypto::recover(signing_digest(chain_id), signature);
    if (!pk) return util::unexpected(RecordError::bad_signature);
    if (pk->address() != operator_address) return util::unexpected(RecordError::wrong_signer);
    if (expires_at <= now_unix) return util::unexpected(RecordError::expired);
    return {};
}

json::value NodeRecord::to_json() const {
    json::array eps;
    for (const auto& e : endpoints) eps.push_back(json::value(e.to_string()));
    json::array caps;
    if (is_entry()) caps.push_back("entry");
    if (is_exit()) caps.push_back("exit");
    return json::object{{"operator", operator_address.to_string()},
                        {"noise_key", util::to_hex(noise_key)},
                        {"endpoints", std::move(eps)},
                        {"region", region},
                        {"capabilities", std::move(caps)},
                        {"expires_at", expires_at},
                        {"signature", util::to_hex_prefixed(signature.to_bytes(0))}};
}

RecordResult<NodeRecord> NodeRecord::from_json(const json::value& v) {
    const auto* o = v.if_object();
    if (!o) return util::unexpected(RecordError::malformed);
    auto str = [&](std::string_view k) -> const json::string* {
        const auto* f = o->if_contains(k);
        return f ? f->if_string() : nullptr;
    };
    const auto* op = str("operator");
    const auto* key = str("noise_key");
    const auto* region = str("region");
    const auto* sig = str("signature");
    const auto* eps = o->if_contains("endpoints");
    const auto* caps = o->if_contains("capabilities");
    const auto* exp = o->if_contains("expires_at");
    if (!op || !key || !region || !sig || !eps || !eps->is_array() || !caps || !caps->is_array() || !exp)
        return util::unexpected(RecordError::malformed);
    NodeRecord n;
    auto addr = crypto::Address::parse(*op);
    auto k = util::from_hex_fixed<32>(*key);
    auto s = util::from_hex(*sig);
    if (!addr || !k || !s) return util::unexpected(RecordError::malformed);
    auto parsed_sig = crypto::Signature::from_bytes(*s);
    if (!parsed_sig) return util::unexpected(RecordError::bad_signature);
    n.operator_address = *addr;
    n.noise_key = *k;
    n.signature = *parsed_sig;
    n.region = std::string(*region);
    if (eps->get_array().size() > max_endpoints) return util::unexpected(RecordError::bad_field);
    for (const auto& e : eps->get_array()) {
        if (!e.is_string()) return util::unexpected(RecordError::malformed);
        auto ep = Endpoint::parse(e.get_string());
        if (!ep) return util::unexpected(RecordError::bad_field);
        n.endpoints.push_back(std::move(*ep));
    }
    n.capabilities = 0;
    for (const auto& c : caps->get_array()) {
        if (c == "entry")
            n.capabilities |= capability_entry;
        else if (c == "exit")
            n.capabilities |= capability_exit;
        else
            return util::unexpected(RecordError::bad_field);
    }
    if (exp->is_uint64())
        n.expires_at = exp->get_uint64();
    else if (exp->is_int64() && exp->get_int64() >= 0)
        n.expires_at = static_cast<std::uint64_t>(exp->get_int64());
    else
        return util::unexpected(RecordError::malformed);
    return n;
}

std::vector<NodeRecord> parse_directory(std::string_view text, std::uint64_t chain_id, std::uint64_t now_unix,
                                        std::vector<std::string>& rejected) {
    std::vector<NodeRecord> out;
    boost::system::error_code ec;
    const json::value doc = json::parse(text, ec);
    if (ec || !doc.is_array()) {
        rejected.push_back("directory is not a JSON array of node records");
        return out;
    }
    std::size_t index = 0;
    for (const auto& v : doc.get_array()) {
        auto rec = NodeRecord::from_json(v);
        if (rec) {
            if (auto ok = rec->verify(chain_id, now_unix); !ok) {
                rejected.push_back("record " + std::to_string(index) + ": " + std::string(describe(ok.error())));
            } else {
                out.push_back(std::move(*rec));
            }
        } else {
            rejected.push_back("record " + std::to_string(index) + ": " + std::string(describe(rec.error())));
        }
        ++index;
    }
    return out;
}

}  // namespace conet::ledger
