#pragma once
/// Keeps a process in step with the ledger through any validator's JSON-RPC:
/// every refresh it (for a relay) makes sure the node's own record on the
/// ledger is current — registering it, or re-registering when the endpoints,
/// region or capabilities changed or half its lifetime has passed — and it
/// re-learns the verified relay list (node/discovery.hpp) and hands it to the
/// io thread. The RPC calls are blocking, so this runs on its own thread.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "conet/ledger/chain.hpp"
#include "conet/node/config.hpp"
#include "conet/node/discovery.hpp"
#include "conet/rpc/client.hpp"

namespace conet::node {

struct Registration {
    NodeConfig config;  ///< region, capabilities, ttl, chain id
    ledger::Endpoint advertise;
    crypto::X25519Public noise_key{};
    crypto::PrivateKey wallet;
    std::uint64_t fee = 1;
};

class LedgerSync {
public:
    using DirectoryHandler = std::function<void(ledger::Directory)>;

    /// `on_directory` runs on `io` with each newly verified relay list.
    /// Relays are learned from every URL (node/discovery.hpp); registration
    /// goes to the first.
    LedgerSync(boost::asio::io_context& io, std::vector<std::string> rpc_urls, ledger::Genesis genesis,
               std::uint32_t refresh_ms, std::optional<Registration> registration, DirectoryHandler on_directory);
    ~LedgerSync();
    LedgerSync(const LedgerSync&) = delete;
    LedgerSync& operator=(const LedgerSync&) = delete;

    void start();
    void stop();
    /// Ask for a refresh now (e.g. after a circuit to an unknown relay failed).
    void poke();
    void set_max_header_age(std::uint64_t seconds) { m_max_header_age_s = seconds; }  ///< before start()
    /// Deadline of each RPC call (node.toml's limits.rpc_client_timeout_ms); before start().
    void set_rpc_timeout_ms(std::uint32_t ms) { m_rpc_timeout_ms = ms; }
    /// More work for each refresh on the sync's thread, given the first URL
    /// and the call options (usage claims, the proxy's wallet view); before start().
    using Task = std::function<void(const std::string& url, const rpc::CallOptions& call)>;
    void add_task(Task task) { m_tasks.push_back(std::move(task)); }

private:
    void run();
    void refresh();
    void keep_registered();
    void warn_once(const std::string& what);
    /// Each call's deadline, abandoned at once when stop() is called.
    rpc::CallOptions call_options();

    boost::asio::io_context& m_io;
    const std::vector<std::string> m_urls;
    const std::string m_url;  ///< the first, for registration
    const ledger::Genesis m_genesis;
    const std::uint32_t m_refresh_ms;
    std::optional<Registration> m_registration;
    DirectoryHandler m_on_directory;
    std::vector<Task> m_tasks;
    std::uint64_t m_max_header_age_s = default_max_header_age_s;
    std::uint32_t m_rpc_timeout_ms = rpc::default_client_timeout_ms;
    std::optional<std::string> m_pending_tx;
    std::string m_last_warning;
    util::Bytes m_last_fingerprint{0xff};  ///< the last relay list's records, encoded

    std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stopping = false;
    bool m_poked = false;
    std::thread m_thread;
};

}  // namespace conet::node
