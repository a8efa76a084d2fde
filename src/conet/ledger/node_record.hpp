#pragma once
/// NodeRecord (DESIGN §4): binds a relay's Noise static key, endpoints,
/// region and capabilities to its operator's wallet, signed by that wallet.
///   digest = keccak256("CONET/NodeRecord/v1" || u64 chain_id || canonical encoding of the fields)
/// The ledger will store these; until then a directory file holds a JSON array.

#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "conet/codec/codec.hpp"
#include "conet/crypto/keys.hpp"
#include "conet/crypto/sodium.hpp"
#include "conet/util/assert.hpp"

namespace conet::ledger {

inline constexpr std::string_view node_record_domain = "CONET/NodeRecord/v1";
inline constexpr std::uint64_t default_chain_id = 0x434f4e4554;  // "CONET"
inline constexpr std::size_t max_endpoints = 4;
inline constexpr std::size_t max_endpoint_host_bytes = 255;

enum Capability : std::uint8_t { capability_entry = 1, capability_exit = 2 };

struct Endpoint {
    std::string host;  ///< IP literal or DNS name
    std::uint16_t port = 0;
    std::string to_string() const;
    /// "host:port" or "[v6]:port"; port 1..65535 (0 allowed with allow_zero_port, for listening).
    static util::Result<Endpoint, std::string> parse(std::string_view text, bool allow_zero_port = false);
    bool operator==(const Endpoint&) const = default;
};

/// Why an endpoint may not be dialed as a relay (see endpoint_scope()).
enum class EndpointScope : std::uint8_t {
    public_address,   ///< a global unicast IP literal: fine everywhere
    not_ip_literal,   ///< a DNS name: never dialed (the user must not resolve relay names)
    unspecified,      ///< 0.0.0.0/8, ::
    loopback,         ///< 127.0.0.0/8, ::1
    private_network,  ///< 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10
    link_local,       ///< 169.254/16 (cloud metadata at 169.254.169.254), fe80::/10
    shared_cgnat,     ///< 100.64/10 (RFC 6598)
    multicast,        ///< 224/4, ff00::/8
    reserved,         ///< 240/4, broadcast, documentation, benchmarking, IETF, 6to4, Teredo, not 2000::/3
};
std::string_view describe(EndpointScope s);

/// Classifies a relay endpoint's host. Only IP literals are classified as
/// addresses; IPv4-mapped IPv6 is classified as the IPv4 address it carries.
/// Pure: no DNS, no interface lookup.
EndpointScope endpoint_scope(const Endpoint& e);
/// A global unicast IP literal: what a record must carry outside a devnet.
inline bool endpoint_is_public(const Endpoint& e) {
    return endpoint_scope(e) == EndpointScope::public_address;
}
/// The address rule for dialing relays (proxies, and relays extending):
/// an IP literal always; a non-public one only when `allow_private` (an
/// explicit devnet flag). Names are refused even then.
inline bool endpoint_allowed(const Endpoint& e, bool allow_private) {
    const EndpointScope s = endpoint_scope(e);
    return s == EndpointScope::public_address || (allow_private && s != EndpointScope::not_ip_literal);
}
/// The first endpoint of a record that endpoint_allowed() refuses, or null:
/// a record with any such endpoint is refused whole, so a relay cannot steer
/// its dialers to an internal address by listing it beside a good one.
const Endpoint* first_disallowed_endpoint(const std::vector<Endpoint>& endpoints, bool allow_private);

enum class RecordError { malformed, bad_signature, wrong_signer, expired, bad_field };
std::string_view describe(RecordError e);

template <class T>
using RecordResult = util::Result<T, RecordError>;

struct NodeRecord {
    crypto::Address operator_address;
    crypto::X25519Public noise_key{};
    std::vector<Endpoint> endpoints;
    std::string region;  ///< ISO 3166 alpha-2, upper case
    std::uint8_t capabilities = capability_entry | capability_exit;
    std::uint64_t expires_at = 0;  ///< unix seconds
    crypto::Signature signature;

    /// The signed part (everything but the signature), canonically encoded.
    void encode_fields(codec::Writer& w) const;
    crypto::Hash256 signing_digest(std::uint64_t chain_id) const;

    void encode(codec::Writer& w) const;
    static codec::Result<NodeRecord> decode(codec::Reader& r);

    /// Fills operator_address and signature.
    void sign(const crypto::PrivateKey& key, std::uint64_t chain_id);
    /// Signature recovers the operator; fields are sane; not expired at `now_unix`.
    [[nodiscard]] RecordResult<void> verify(std::uint64_t chain_id, std::uint64_t now_unix) const;

    bool is_exit() const { return capabilities & capability_exit; }
    bool is_entry() const { return capabilities & capability_entry; }

    boost::json::value to_json() const;
    static RecordResult<NodeRecord> from_json(const boost::json::value& v);
};

/// The relays a process knows, by Noise key, with each one's bonded stake
/// when it came from the ledger (a directory file carries none).
class Directory {
public:
    Directory() = default;
    explicit Directory(std::vector<NodeRecord> records) : m_records(std::move(records)) {}
    /// `stakes[i]` is the stake proven with `records[i]` (the ledger's NodeEntry).
    Directory(std::vector<NodeRecord> records, std::vector<std::uint64_t> stakes)
        : m_records(std::move(records)), m_stakes(std::move(stakes)) {
        CONET_ASSERT(m_stakes.size() == m_records.size());
    }
    const NodeRecord* find(const crypto::X25519Public& noise_key) const {
        for (const auto& r : m_records)
            if (r.noise_key == noise_key) return &r;
        return nullptr;
    }
    const std::vector<NodeRecord>& records() const { return m_records; }
    /// True when stakes are known (the directory came from the ledger).
    bool has_stakes() const { return !m_stakes.empty(); }
    /// The stake of records()[i]; 0 when unknown.
    std::uint64_t stake(std::size_t i) const { return i < m_stakes.size() ? m_stakes[i] : 0; }

private:
    std::vector<NodeRecord> m_records;
    std::vector<std::uint64_t> m_stakes;  ///< empty, or one per record
};

/// Parses a directory file (JSON array of records) and keeps the records that
/// verify; `rejected` receives one line per refused record.
std::vector<NodeRecord> parse_directory(std::string_view json_text, std::uint64_t chain_id, std::uint64_t now_unix,
                                        std::vector<std::string>& rejected);

}  // namespace conet::ledger
