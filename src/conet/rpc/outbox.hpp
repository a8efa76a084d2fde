#pragma once
/// The messages queued for one WebSocket client (I/O-free), counted in the
/// bytes they hold rather than in messages: one huge notification costs what
/// it allocates. A push that would pass the budget is refused; the server then
/// cuts the client off instead of buffering for a reader that does not keep up.

#include <cstdint>
#include <deque>
#include <string>

namespace conet::rpc {

class Outbox {
public:
    /// Bookkeeping charged per message on top of its buffer (the deque slot and
    /// the allocator's header, rounded up).
    static constexpr std::uint64_t per_message_overhead_bytes = 64;

    explicit Outbox(std::uint64_t max_bytes) : m_max_bytes(max_bytes) {}

    /// What `message` costs while queued.
    static std::uint64_t cost(const std::string& message) { return message.capacity() + per_message_overhead_bytes; }

    /// Queues `message`; false (and nothing queued) when the queue would hold
    /// more than the budget.
    [[nodiscard]] bool push(std::string message) {
        const std::uint64_t c = cost(message);
        if (c > m_max_bytes - m_bytes) return false;  // m_bytes <= m_max_bytes always
        m_bytes += c;
        m_messages.push_back({std::move(message), c});
        return true;
    }
    bool empty() const { return m_messages.empty(); }
    std::size_t size() const { return m_messages.size(); }
    /// The next message to send; it stays counted until `pop()`, since the
    /// writer holds its buffer while the write is in progress.
    const std::string& front() const { return m_messages.front().text; }
    void pop() {
        m_bytes -= m_messages.front().cost;
        m_messages.pop_front();
    }
    std::uint64_t bytes() const { return m_bytes; }
    std::uint64_t max_bytes() const { return m_max_bytes; }

private:
    std::uint64_t m_max_bytes;
    std::uint64_t m_bytes = 0;
    struct Queued {
        std::string text;
        std::uint64_t cost;  ///< as charged when queued
    };
    std::deque<Queued> m_messages;
};

}  // namespace conet::rpc
