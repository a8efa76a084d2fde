#pragma once
/// Admission of connections to the RPC/WebSocket port (I/O-free): a cap in
/// total, per source address and per source network (IPv4 /24, IPv6 /48),
/// so neither one source nor many addresses of one network take every slot.
/// The adapter asks `admit()` for each accepted socket and closes it at once
/// when refused; `release()` when the connection ends.

#include <cstdint>
#include <map>

#include <boost/asio/ip/address.hpp>

#include "conet/util/limits.hpp"

namespace conet::rpc {

enum class Refusal { none, total, per_ip, per_prefix };

/// Counts what the server refused and why (for tests and metrics).
struct AdmissionStats {
    std::uint64_t admitted = 0;
    std::uint64_t refused_total = 0;       ///< the port was full
    std::uint64_t refused_per_ip = 0;      ///< that source already held its share
    std::uint64_t refused_per_prefix = 0;  ///< its network (/24, /48) already held its share
};

class Admission {
public:
    explicit Admission(const util::Limits& limits)
        : m_max_total(limits.rpc_max_connections),
          m_max_per_ip(limits.rpc_max_connections_per_ip),
          m_max_per_prefix(limits.rpc_max_connections_per_prefix) {}

    /// Takes a slot for `source`, or says why not (nothing is taken then).
    [[nodiscard]] Refusal admit(const boost::asio::ip::address& source);
    /// Gives back the slot `admit()` took for `source`.
    void release(const boost::asio::ip::address& source);

    std::size_t open() const { return m_open; }
    std::size_t open_from(const boost::asio::ip::address& source) const;
    std::size_t open_from_prefix(const boost::asio::ip::address& source) const;
    const AdmissionStats& stats() const { return m_stats; }

    /// The key a source is counted under: an IPv4-mapped IPv6 address counts
    /// as its IPv4 address, so a dual-stack listener cannot be used to double up.
    static boost::asio::ip::address source_key(const boost::asio::ip::address& a);
    /// The network a source is counted under: its IPv4 /24 or IPv6 /48 (host bits zero).
    static boost::asio::ip::address prefix_key(const boost::asio::ip::address& a);

private:
    std::uint64_t m_max_total;
    std::uint64_t m_max_per_ip;
    std::uint64_t m_max_per_prefix;
    std::size_t m_open = 0;
    std::map<boost::asio::ip::address, std::size_t> m_per_ip;      ///< only sources with open connections
    std::map<boost::asio::ip::address, std::size_t> m_per_prefix;  ///< only networks with open connections
    AdmissionStats m_stats;
};

}  // namespace conet::rpc
