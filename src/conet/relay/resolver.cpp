#include "conet/relay/resolver.hpp"

#include <netdb.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace conet::relay {

namespace asio = boost::asio;
using net::tcp;

std::string_view describe(ResolveError e) {
    switch (e) {
        case ResolveError::not_found: return "name not found";
        case ResolveError::timeout: return "name lookup timed out";
        case ResolveError::queue_full: return "too many name lookups in progress";
        case ResolveError::stopped: return "resolver stopped";
    }
    return "unknown resolve error";
}

namespace {

/// One lookup, shared by the waiting coroutine and the worker.
struct Job {
    Job(asio::any_io_executor ex, std::string h, std::uint16_t p)
        : host(std::move(h)), port(p), wake(ex, asio::steady_timer::time_point::max()) {}
    std::string host;
    std::uint16_t port;
    asio::steady_timer wake;  ///< cancelled (on the io thread) when the answer is in
    bool answered = false;    ///< io thread only
    std::vector<tcp::endpoint> endpoints;
};

std::vector<tcp::endpoint> lookup(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* list = nullptr;
    std::vector<tcp::endpoint> out;
    if (::getaddrinfo(host.c_str(), nullptr, &hints, &list) != 0) return out;
    for (addrinfo* i = list; i; i = i->ai_next) {
        if (i->ai_family == AF_INET) {
            tcp::endpoint ep;
            std::memcpy(ep.data(), i->ai_addr, sizeof(sockaddr_in));
            ep.port(port);
            out.push_back(ep);
        } else if (i->ai_family == AF_INET6) {
            tcp::endpoint ep;
            std::memcpy(ep.data(), i->ai_addr, sizeof(sockaddr_in6));
            ep.port(port);
            out.push_back(ep);
        }
    }
    ::freeaddrinfo(list);
    return out;
}

}  // namespace

/// State the workers share with the pool; outlives the pool while a worker is stuck.
struct ResolverPool::Shared {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::shared_ptr<Job>> queue;
    std::size_t running = 0;
    bool stopped = false;
    asio::any_io_executor ex;

    void work() {
        for (;;) {
            std::shared_ptr<Job> job;
            {
                std::unique_lock lock(mutex);
                ready.wait(lock, [&] { return stopped || !queue.empty(); });
                if (stopped) return;
                job = std::move(queue.front());
                queue.pop_front();
                ++running;
            }
            auto endpoints = lookup(job->host, job->port);
            std::lock_guard lock(mutex);
            --running;
            if (stopped) return;  // the io context may be gone: post nothing
            asio::post(ex, [job, endpoints = std::move(endpoints)]() mutable {
                job->endpoints = std::move(endpoints);
                job->answered = true;
                job->wake.cancel();
            });
        }
    }
};

ResolverPool::ResolverPool(asio::any_io_executor ex, ResolverLimits limits)
    : m_ex(ex), m_limits(limits), m_shared(std::make_shared<Shared>()) {
    m_shared->ex = ex;
    for (std::size_t i = 0; i < std::max<std::size_t>(m_limits.workers, 1); ++i)
        std::thread([shared = m_shared] { shared->work(); }).detach();  // a stuck lookup must not block shutdown
}

ResolverPool::~ResolverPool() {
    std::lock_guard lock(m_shared->mutex);
    m_shared->stopped = true;
    m_shared->queue.clear();
    m_shared->ready.notify_all();
}

std::size_t ResolverPool::busy() const {
    std::lock_guard lock(m_shared->mutex);
    return m_shared->queue.size() + m_shared->running;
}

net::awaitable<util::Result<std::vector<tcp::endpoint>, ResolveError>> ResolverPool::resolve(std::string host,
                                                                                             std::uint16_t port) {
    auto job = std::make_shared<Job>(m_ex, std::move(host), port);
    {
        std::lock_guard lock(m_shared->mutex);
        if (m_shared->stopped) co_return util::unexpected(ResolveError::stopped);
        if (m_shared->queue.size() >= m_limits.max_queue) co_return util::unexpected(ResolveError::queue_full);
        m_shared->queue.push_back(job);
    }
    m_shared->ready.notify_one();
    job->wake.expires_after(std::chrono::milliseconds(m_limits.timeout_ms));
    co_await job->wake.async_wait(net::use_nothrow);
    if (!job->answered) {
        // Still queued: take it out so a worker does not spend time on it.
        std::lock_guard lock(m_shared->mutex);
        auto& q = m_shared->queue;
        q.erase(std::remove(q.begin(), q.end(), job), q.end());
        co_return util::unexpected(ResolveError::timeout);
    }
    if (job->endpoints.empty()) co_return util::unexpected(ResolveError::not_found);
    co_return std::move(job->endpoints);
}

}  // namespace conet::relay
