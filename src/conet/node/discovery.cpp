#include "conet/node/discovery.hpp"

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "conet/ledger/state.hpp"
#include "conet/node/header_check.hpp"
#include "conet/rpc/client.hpp"
#include "conet/rpc/proof_json.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string rpc_error(const rpc::RpcError& e) {
    return e.message.empty() ? "RPC error" : e.message;
}

template <std::size_t N>
std::optional<util::ByteArray<N>> hex_field(const json::value& v) {
    if (!v.is_string()) return std::nullopt;
    auto b = util::from_hex_fixed<N>(v.get_string());
    if (!b) return std::nullopt;
    return *b;
}

}  // namespace

util::Result<NodeListing, std::string> list_node_keys(const PageFetcher& fetch) {
    NodeListing out;
    std::set<crypto::X25519Public> seen;
    for (std::uint64_t offset = 0;; offset += list_page_size) {
        if (out.pages == max_list_pages) {
            out.cut_short = "node list longer than " + std::to_string(max_list_pages) + " pages";
            break;
        }
        auto page = fetch(offset, list_page_size);
        ++out.pages;
        if (!page) return util::unexpected("conet_listNodes: " + page.error());
        const auto* nodes = page->is_object() ? page->as_object().if_contains("nodes") : nullptr;
        if (!nodes || !nodes->is_array()) return util::unexpected(std::string("conet_listNodes: malformed answer"));
        if (nodes->get_array().size() > list_page_size)
            return util::unexpected(std::string("conet_listNodes: page larger than asked for"));
        std::size_t fresh = 0;
        for (const auto& n : nodes->get_array()) {
            const auto* rec = n.is_object() ? n.get_object().if_contains("record") : nullptr;
            const auto* key = rec && rec->is_object() ? rec->get_object().if_contains("noise_key") : nullptr;
            auto k = key ? hex_field<32>(*key) : std::nullopt;
            if (!k || !seen.insert(*k).second) continue;
            out.keys.push_back(*k);
            ++fresh;
            if (out.keys.size() == max_relays_per_endpoint) break;
        }
        if (nodes->get_array().size() < list_page_size) break;  // the last page
        if (out.keys.size() == max_relays_per_endpoint) {
            out.cut_short = "more than " + std::to_string(max_relays_per_endpoint) + " nodes listed";
            break;
        }
        if (fresh == 0) {
            out.cut_short = "a full page at offset " + std::to_string(offset) + " had no new valid key";
            break;
        }
    }
    return out;
}

util::Result<ledger::Directory, std::string> discover_relays(const std::string& url, const ledger::Genesis& genesis,
                                                             std::uint64_t now_unix, std::vector<std::string>& refused,
                                                             const DiscoveryOptions& options) {
    // Every call below shares one deadline for this endpoint, on top of its own.
    rpc::CallOptions call_options;
    call_options.timeout_ms = options.call_timeout_ms;
    call_options.deadline = Clock::now() + std::chrono::milliseconds(options.endpoint_timeout_ms);
    call_options.cancelled = options.cancelled;
    auto out_of_time = [&] {
        return Clock::now() >= *call_options.deadline || (options.cancelled && options.cancelled());
    };

    std::map<std::uint64_t, ledger::Header> headers;
    auto head = verified_header(url, genesis, std::nullopt, call_options);
    if (!head) return util::unexpected(head.error());
    if (head->time_unix + options.max_header_age_s < now_unix)
        return util::unexpected("head block " + std::to_string(head->height) + " is stale (" +
                                std::to_string(now_unix - head->time_unix) + " s old)");
    headers[head->height] = *head;

    auto listing = list_node_keys([&](std::uint64_t offset, std::uint64_t limit) {
        auto r = rpc::call(url, "conet_listNodes", {json::value(offset), json::value(limit)}, call_options);
        if (!r) return util::Result<json::value, std::string>(util::unexpected(rpc_error(r.error())));
        return util::Result<json::value, std::string>(std::move(*r));
    });
    if (!listing) return util::unexpected(listing.error());
    if (listing->cut_short) refused.push_back(url + ": node list cut short: " + *listing->cut_short);

    std::vector<ledger::NodeRecord> accepted;
    std::vector<std::uint64_t> stakes;  ///< proven with each accepted record (path selection weighs by it)
    for (std::size_t i = 0; i < listing->keys.size(); ++i) {
        const auto& key = listing->keys[i];
        if (out_of_time()) {
            refused.push_back(url + ": out of time; " + std::to_string(listing->keys.size() - i) +
                              " listed nodes not checked");
            break;
        }
        const std::string name = util::to_hex(util::ByteView(key).first(4));
        auto r = rpc::call(url, "conet_getNode", {json::value(util::to_hex(key))}, call_options);
        if (!r || !r->is_object()) {
            refused.push_back(name + ": no answer");
            continue;
        }
        try {
            const std::uint64_t height = r->at("height").to_number<std::uint64_t>();
            if (height < head->height) {
                refused.push_back(name + ": proof from block " + std::to_string(height) + ", older than the head");
                continue;
            }
            if (!headers.count(height)) {
                auto h = verified_header(url, genesis, height, call_options);
                if (!h) {
                    refused.push_back(name + ": " + h.error());
                    continue;
                }
                headers[height] = *h;
            }
            const ledger::Header& header = headers[height];
            auto encoded = util::from_hex(r->at("record_encoded").as_string());
            auto record = encoded ? codec::decode<ledger::NodeRecord>(*encoded)
                                  : codec::Result<ledger::NodeRecord>(util::unexpected(codec::CodecError::bad_value));
            if (!record || record->noise_key != key) {
                refused.push_back(name + ": malformed record");
                continue;
            }
            // The leaf commits to the node's service too (probe results, score, jail).
            const json::value* svc_hex = r->as_object().if_contains("service_encoded");
            auto svc_bytes =
                svc_hex && svc_hex->is_string()
                    ? util::from_hex(svc_hex->get_string())
                    : util::Result<util::Bytes, util::HexError>(util::unexpected(util::HexError::bad_digit));
            auto service = svc_bytes
                               ? codec::decode<ledger::NodeService>(*svc_bytes)
                               : codec::Result<ledger::NodeService>(util::unexpected(codec::CodecError::bad_value));
            if (!service) {
                refused.push_back(name + ": malformed service entry");
                continue;
            }
            const ledger::NodeEntry entry{*record, r->at("stake").to_number<std::uint64_t>(), *service};
            auto proof = rpc::proof_from_json(r->at("proof"));
            if (!proof) throw std::runtime_error("bad proof");
            if (!ledger::smt_verify(header.state_root, ledger::State::node_key(key),
                                    ledger::State::node_value_hash(entry), *proof)) {
                refused.push_back(name + ": Merkle proof does not match the certified state root");
                continue;
            }
            if (entry.service.jailed) {
                refused.push_back(name + ": jailed (failed its probes; not used until its operator unjails it)");
                continue;
            }
            if (auto ok = record->verify(genesis.chain_id, now_unix); !ok) {
                refused.push_back(name + ": " + std::string(ledger::describe(ok.error())));
                continue;
            }
            accepted.push_back(std::move(*record));
            stakes.push_back(entry.stake);
        } catch (const std::exception&) {
            refused.push_back(name + ": malformed answer");
        }
    }
    return ledger::Directory(std::move(accepted), std::move(stakes));
}

util::Result<ledger::Directory, std::string> discover_relays(const std::vector<std::string>& urls,
                                                             const ledger::Genesis& genesis, std::uint64_t now_unix,
                                                             std::vector<std::string>& refused,
                                                             const DiscoveryOptions& options) {
    // Each endpoint on a thread of its own, so one that never answers costs
    // its deadline once, in parallel with the others, not once per endpoint.
    using Answer = util::Result<ledger::Directory, std::string>;
    std::vector<std::optional<Answer>> answers(urls.size());
    std::vector<std::vector<std::string>> refusals(urls.size());
    auto ask = [&](std::size_t i) {
        try {
            answers[i] = discover_relays(urls[i], genesis, now_unix, refusals[i], options);
        } catch (const std::exception& e) {  // e.g. out of memory: this endpoint fails, not the process
            answers[i] = util::unexpected(std::string("discovery failed: ") + e.what());
        }
    };
    if (urls.size() == 1) {
        ask(0);
    } else {
        for (std::size_t first = 0; first < urls.size(); first += max_parallel_endpoints) {
            std::vector<std::thread> threads;
            for (std::size_t i = first; i < std::min(urls.size(), first + max_parallel_endpoints); ++i)
                threads.emplace_back(ask, i);
            for (auto& t : threads) t.join();
        }
    }

    std::map<crypto::X25519Public, std::pair<ledger::NodeRecord, std::uint64_t>> union_;  ///< record, its stake
    std::string errors;
    bool any = false;
    for (std::size_t i = 0; i < urls.size(); ++i) {
        refused.insert(refused.end(), refusals[i].begin(), refusals[i].end());
        const Answer& d = *answers[i];
        if (!d) {
            errors += (errors.empty() ? "" : "; ") + urls[i] + ": " + d.error();
            continue;
        }
        any = true;
        for (std::size_t j = 0; j < d->records().size(); ++j) {
            const auto& r = d->records()[j];
            auto [it, fresh] = union_.try_emplace(r.noise_key, r, d->stake(j));
            if (!fresh && r.expires_at > it->second.first.expires_at) it->second = {r, d->stake(j)};
        }
    }
    if (!any) return util::unexpected(urls.empty() ? std::string("no RPC endpoint given") : errors);
    std::vector<ledger::NodeRecord> records;
    std::vector<std::uint64_t> stakes;
    for (auto& [k, rs] : union_) {
        records.push_back(std::move(rs.first));
        stakes.push_back(rs.second);
    }
    return ledger::Directory(std::move(records), std::move(stakes));
}

}  // namespace conet::node
