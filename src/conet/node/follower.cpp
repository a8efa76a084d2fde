#include "conet/node/follower.hpp"

#include <spdlog/spdlog.h>

#include <future>

#include <boost/asio/post.hpp>

#include "conet/util/hex.hpp"

namespace conet::node {

namespace json = boost::json;

Follower::Follower(boost::asio::io_context& io, ledger::BlockStore& store, const ledger::Genesis& genesis,
                   FollowerOptions options)
    : m_io(io),
      m_store(store),
      m_genesis(genesis),
      m_options(std::move(options)),
      m_head(store.head()),
      m_state(store.state()) {}

Follower::~Follower() {
    stop();
}

void Follower::start() {
    spdlog::info("[follower] following chain {} from {} endpoint(s), at height {}", m_genesis.chain_id,
                 m_options.urls.size(), m_head.height);
    m_thread = std::thread([this] { run(); });
}

void Follower::stop() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable()) m_thread.join();
}

rpc::CallOptions Follower::call_options() {
    rpc::CallOptions o;
    o.timeout_ms = m_options.rpc_timeout_ms;
    o.cancelled = [this] {
        std::lock_guard lock(m_mutex);
        return m_stopping;
    };
    return o;
}

void Follower::run() {
    for (;;) {
        const bool progressed = !m_options.urls.empty() && sync_round();
        std::unique_lock lock(m_mutex);
        if (!progressed)
            m_wake.wait_for(lock, std::chrono::milliseconds(m_options.poll_ms), [this] { return m_stopping; });
        if (m_stopping) return;
    }
}

void Follower::refuse(const std::string& why) {
    const std::string& url = m_options.urls[m_url];
    const std::string line = url + ": " + why;
    if (line != m_last_warning) spdlog::warn("[follower] {}; asking the next endpoint", line);
    m_last_warning = line;
    m_pending.clear();  // what this endpoint served is not trusted further
    m_url = (m_url + 1) % m_options.urls.size();
}

bool Follower::sync_round() {
    const std::string& url = m_options.urls[m_url];
    const std::uint64_t from = m_pending.empty() ? m_head.height + 1 : m_pending.back().first.header.height + 1;
    auto r = rpc::call(url, "conet_getRawBlocks", {json::value(from), json::value(64)}, call_options());
    if (!r) {
        refuse(r.error().message.empty() ? "RPC error" : r.error().message);
        return false;
    }
    const json::value* blocks = r->is_object() ? r->as_object().if_contains("blocks") : nullptr;
    if (!blocks || !blocks->is_array()) {
        refuse("malformed conet_getRawBlocks answer");
        return false;
    }
    if (blocks->get_array().empty()) return false;
    std::vector<std::pair<ledger::Block, ledger::State>> ready;
    for (const auto& v : blocks->get_array()) {
        auto bytes = v.is_string()
                         ? util::from_hex(v.get_string())
                         : util::Result<util::Bytes, util::HexError>(util::unexpected(util::HexError::bad_digit));
        auto block = bytes ? codec::decode<ledger::Block>(*bytes)
                           : codec::Result<ledger::Block>(util::unexpected(codec::CodecError::bad_value));
        if (!block) {
            refuse("a block that does not decode");
            return false;
        }
        // The parent: the last block checked in this round or an earlier one.
        const ledger::Header& parent = !m_pending.empty() ? m_pending.back().first.header
                                       : !ready.empty()   ? ready.back().first.header
                                                          : m_head;
        ledger::State next = !m_pending.empty() ? m_pending.back().second
                             : !ready.empty()   ? ready.back().second
                                                : m_state;
        // The certificate's set: the one the parent's state holds for this
        // block's epoch. An epoch's last block (which stores the next set)
        // always carries a certificate of its own: without that rule an
        // endpoint could make up the last block, bonds and all, and then
        // certify the next one with keys of its own.
        if (ledger::ends_epoch(block->header.height, m_genesis.params.epoch_blocks) && block->certificate.empty()) {
            refuse("block " + std::to_string(block->header.height) + " ends an epoch without a certificate of its own");
            return false;
        }
        const ledger::ValidatorSet set = next.validator_set();
        if (auto ok = ledger::execute_block(next, parent, *block); !ok) {
            refuse("block " + std::to_string(block->header.height) +
                   " refused: " + std::string(ledger::describe(ok.error())));
            return false;
        }
        const bool certified = !block->certificate.empty();
        if (certified) {
            if (auto ok = ledger::verify_certificate(block->header, block->certificate, set.members,
                                                     m_genesis.params.epoch_blocks);
                !ok) {
                refuse("block " + std::to_string(block->header.height) +
                       " certificate refused: " + std::string(ledger::describe(ok.error())));
                return false;
            }
        }
        m_pending.emplace_back(std::move(*block), std::move(next));
        if (certified) {
            // Final: it and every uncertified block before it.
            for (auto& p : m_pending) ready.push_back(std::move(p));
            m_pending.clear();
        } else if (m_pending.size() > m_options.max_pending_blocks) {
            refuse(std::to_string(m_pending.size()) + " blocks without a certified descendant");
            return false;
        }
    }
    if (ready.empty()) return true;
    m_last_warning.clear();
    m_head = ready.back().first.header;
    m_state = ready.back().second;
    return commit(std::move(ready));
}

bool Follower::commit(std::vector<std::pair<ledger::Block, ledger::State>> blocks) {
    struct Batch {
        std::vector<std::pair<ledger::Block, ledger::State>> blocks;
        std::promise<void> done;
    };
    // Shared: if the node stops first, the io thread may still run it after we returned.
    auto batch = std::make_shared<Batch>(Batch{std::move(blocks), {}});
    auto finished = batch->done.get_future();
    boost::asio::post(m_io, [this, batch] {
        for (const auto& [block, state] : batch->blocks) {
            if (auto ok = m_store.commit(block, state); !ok) {
                // A failed durable write leaves state we cannot trust: stop (STYLE.md).
                spdlog::critical("[follower] {}", ok.error());
                std::abort();
            }
            if (on_commit) on_commit(block);
        }
        batch->done.set_value();
    });
    while (finished.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
        std::lock_guard lock(m_mutex);
        if (m_stopping) return false;
    }
    return true;
}

}  // namespace conet::node
