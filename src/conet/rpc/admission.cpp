#include "conet/rpc/admission.hpp"

#include "conet/util/assert.hpp"

namespace conet::rpc {

boost::asio::ip::address Admission::source_key(const boost::asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
    return a;
}

Refusal Admission::admit(const boost::asio::ip::address& source) {
    if (m_open >= m_max_total) {
        ++m_stats.refused_total;
        return Refusal::total;
    }
    const auto key = source_key(source);
    auto it = m_per_ip.find(key);
    if (it != m_per_ip.end() && it->second >= m_max_per_ip) {
        ++m_stats.refused_per_ip;
        return Refusal::per_ip;
    }
    if (it == m_per_ip.end()) it = m_per_ip.emplace(key, 0).first;
    ++it->second;
    ++m_open;
    ++m_stats.admitted;
    return Refusal::none;
}

void Admission::release(const boost::asio::ip::address& source) {
    auto it = m_per_ip.find(source_key(source));
    CONET_ASSERT(it != m_per_ip.end() && it->second > 0 && m_open > 0);
    if (--it->second == 0) m_per_ip.erase(it);
    --m_open;
}

std::size_t Admission::open_from(const boost::asio::ip::address& source) const {
    auto it = m_per_ip.find(source_key(source));
    return it == m_per_ip.end() ? 0 : it->second;
}

}  // namespace conet::rpc
