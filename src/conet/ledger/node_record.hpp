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

/// The relays a process knows, by Noise key.
class Directory {
public:
    Directory() = default;
    explicit Directory(std::vector<NodeRecord> records) : m_records(std::move(records)) {}
    const NodeRecord* find(const crypto::X25519Public& noise_key) const {
        for (const auto& r : m_records)
            if (r.noise_key == noise_key) return &r;
        return nullptr;
    }
    const std::vector<NodeRecord>& records() const { return m_records; }

private:
    std::vector<NodeRecord> m_records;
};

/// Parses a directory file (JSON array of records) and keeps the records that
/// verify; `rejected` receives one line per refused record.
std::vector<NodeRecord> parse_directory(std::string_view json_text, std::uint64_t chain_id, std::uint64_t now_unix,
                                        std::vector<std::string>& rejected);

}  // namespace conet::ledger
