#include "conet/rpc/admission.hpp"

#include "conet/util/assert.hpp"

namespace conet::rpc {

namespace ip = boost::asio::ip;

namespace {

/// Decrements `key`'s count, forgetting it at zero.
void take_one(std::map<ip::address, std::size_t>& counts, const ip::address& key) {
    auto it = counts.find(key);
    CONET_ASSERT(it != counts.end() && it->second > 0);
    if (--it->second == 0) counts.erase(it);
}

std::size_t count_of(const std::map<ip::address, std::size_t>& counts, const ip::address& key) {
    auto it = counts.find(key);
    return it == counts.end() ? 0 : it->second;
}

}  // namespace

ip::address Admission::source_key(const ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
    return a;
}

ip::address Admission::prefix_key(const ip::address& a) {
    const ip::address s = source_key(a);
    if (s.is_v4()) {
        auto b = s.to_v4().to_bytes();
        b[3] = 0;  // /24
        return ip::address_v4(b);
    }
    auto b = s.to_v6().to_bytes();
    for (std::size_t i = 6; i < b.size(); ++i) b[i] = 0;  // /48
    return ip::address_v6(b);
}

Refusal Admission::admit(const ip::address& source) {
    if (m_open >= m_max_total) {
        ++m_stats.refused_total;
        return Refusal::total;
    }
    const auto key = source_key(source), prefix = prefix_key(source);
    if (count_of(m_per_ip, key) >= m_max_per_ip) {
        ++m_stats.refused_per_ip;
        return Refusal::per_ip;
    }
    if (count_of(m_per_prefix, prefix) >= m_max_per_prefix) {
        ++m_stats.refused_per_prefix;
        return Refusal::per_prefix;
    }
    ++m_per_ip[key];
    ++m_per_prefix[prefix];
    ++m_open;
    ++m_stats.admitted;
    return Refusal::none;
}

void Admission::release(const ip::address& source) {
    CONET_ASSERT(m_open > 0);
    take_one(m_per_ip, source_key(source));
    take_one(m_per_prefix, prefix_key(source));
    --m_open;
}

std::size_t Admission::open_from(const ip::address& source) const {
    return count_of(m_per_ip, source_key(source));
}

std::size_t Admission::open_from_prefix(const ip::address& source) const {
    return count_of(m_per_prefix, prefix_key(source));
}

}  // namespace conet::rpc
