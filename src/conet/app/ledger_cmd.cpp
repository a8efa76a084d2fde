// `conet tx …` and `conet query …`: the ledger over JSON-RPC.

#include <charconv>
#include <chrono>
#include <ctime>
#include <iostream>
#include <thread>

#include "conet/app/cli.hpp"
#include "conet/app/unlock.hpp"
#include "conet/ledger/state.hpp"
#include "conet/node/discovery.hpp"
#include "conet/node/header_check.hpp"
#include "conet/rpc/client.hpp"
#include "conet/rpc/proof_json.hpp"
#include "conet/util/file.hpp"
#include "conet/util/hex.hpp"

namespace conet::app {

namespace {

namespace json = boost::json;

struct LedgerOptions {
    std::string rpc = "http://127.0.0.1:8545";
    std::string keystore;
    std::optional<std::string> password_file;
    std::uint64_t fee = 1;
    bool no_wait = false;
    bool json_out = false;
    std::string to, node, record_file, id, endpoint, address;
    std::optional<std::uint64_t> epoch;
    bool reachable = false;
    std::uint32_t rtt_ms = 0, kbps = 0;
    std::uint64_t amount = 0;
    std::uint64_t offset = 0, limit = 100;
    std::uint32_t wait_seconds = 30;
    std::string genesis;
    std::uint64_t max_header_age = node::default_max_header_age_s;
    std::vector<std::string> receipts;
};

/// "payer,entry,bytes,signature" (as `conet debug sign-receipt` prints) as a claimed receipt.
util::Result<ledger::ClaimedReceipt, std::string> parse_receipt(const std::string& text) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t comma; (comma = text.find(',', start)) != std::string::npos; start = comma + 1)
        parts.push_back(text.substr(start, comma - start));
    parts.push_back(text.substr(start));
    const std::string usage = "--receipt must be payer,entry,bytes,signature (as `conet debug sign-receipt` prints)";
    if (parts.size() != 4) return util::unexpected(usage);
    auto payer = crypto::Address::parse(parts[0]);
    auto entry = util::from_hex_fixed<32>(parts[1]);
    auto sig_bytes = util::from_hex_fixed<65>(parts[3]);
    auto sig = sig_bytes ? crypto::Signature::from_bytes(*sig_bytes)
                         : crypto::KeyResult<crypto::Signature>(util::unexpected(crypto::KeyError::bad_signature));
    std::uint64_t bytes = 0;
    const auto [end, ec] = std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), bytes);
    if (!payer || !entry || !sig || ec != std::errc() || end != parts[2].data() + parts[2].size())
        return util::unexpected(usage);
    return ledger::ClaimedReceipt{*payer, *entry, bytes, *sig};
}

int rpc_fail(const rpc::RpcError& e) {
    return fail(e.message.empty() ? "RPC error " + std::to_string(e.code) : e.message);
}

template <class P>
int send(const LedgerOptions& o, ledger::TxKind kind, const P& payload) {
    auto key = unlock_keystore(o.keystore, o.password_file);
    if (!key) return fail(key.error());
    auto chain = rpc::call(o.rpc, "conet_chainId", {});
    if (!chain) return rpc_fail(chain.error());
    auto account = rpc::call(o.rpc, "conet_getAccount", {json::value(key->address().to_string())});
    if (!account) return rpc_fail(account.error());
    const auto nonce = account->at("nonce").to_number<std::uint64_t>();
    const auto tx = ledger::make_transaction(*key, chain->to_number<std::uint64_t>(), nonce, o.fee, kind, payload);
    auto sent = rpc::call(o.rpc, "conet_sendRawTransaction", {json::value(util::to_hex_prefixed(codec::encode(tx)))});
    if (!sent) return fail("transaction rejected: " + sent.error().message);
    const std::string id(sent->get_string());
    json::object result{{"id", id}, {"from", key->address().to_string()}, {"nonce", nonce}, {"status", "pending"}};
    if (!o.no_wait) {
        std::cerr << "sent " << id << "; waiting for commitment" << std::flush;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.wait_seconds);
        for (;;) {
            auto st = rpc::call(o.rpc, "conet_getTransaction", {json::value(id)});
            if (st && st->at("status") == "committed") {
                result["status"] = "committed";
                result["height"] = st->at("height");
                break;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                std::cerr << "\n";
                return fail("not committed within " + std::to_string(o.wait_seconds) + " s (still " +
                            (st ? std::string(st->at("status").get_string()) : std::string("unknown")) + ")");
            }
            std::cerr << "." << std::flush;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        std::cerr << " done\n";
    }
    if (o.json_out)
        print_json(result);
    else
        std::cout << id << " " << result["status"].get_string()
                  << (result.contains("height")
                          ? " at height " + std::to_string(result["height"].to_number<std::uint64_t>())
                          : "")
                  << "\n";
    return exit_ok;
}

util::Result<crypto::X25519Public, std::string> node_key(const std::string& hex) {
    auto k = util::from_hex_fixed<32>(hex);
    if (!k) return util::unexpected(std::string("--node must be the node's 32-byte hex Noise key"));
    return *k;
}

int query(const LedgerOptions& o, std::string_view method, json::array params) {
    auto r = rpc::call(o.rpc, method, std::move(params));
    if (!r) return rpc_fail(r.error());
    print_json(*r);
    return exit_ok;
}

/// The account as the node states it, checked against a state root. With
/// --genesis the root is the one of a header certified by the genesis
/// validators (fetched separately, like discovery does), so a node cannot make
/// up a balance; without it the only root available is the one in the same
/// answer, which shows the answer is self-consistent and nothing more, and the
/// output says so ("certified": false, "proof_verified": false).
int query_account(const LedgerOptions& o) {
    auto a = crypto::Address::parse(o.id);
    if (!a) return fail("expected an address", exit_usage);
    std::optional<ledger::Genesis> genesis;
    if (!o.genesis.empty()) {
        auto text = util::read_file(o.genesis, 16u << 20);
        if (!text) return fail("--genesis: " + text.error().message());
        auto g = ledger::Genesis::from_json(*text);
        if (!g) return fail("--genesis: " + g.error());
        genesis = std::move(*g);
    }
    auto r = rpc::call(o.rpc, "conet_getAccount", {json::value(a->to_string())});
    if (!r) return rpc_fail(r.error());
    ledger::Account acc;
    std::uint64_t height = 0;
    bool exists = false;
    std::optional<ledger::SmtProof> proof;
    std::optional<util::ByteArray<32>> answered_root;
    try {
        acc = {r->at("balance").to_number<std::uint64_t>(), r->at("nonce").to_number<std::uint64_t>(),
               r->at("prepaid").to_number<std::uint64_t>()};
        height = r->at("height").to_number<std::uint64_t>();
        exists = r->at("exists").as_bool();
        if (auto p = rpc::proof_from_json(r->at("proof"))) proof = std::move(*p);
        if (auto root = util::from_hex_fixed<32>(r->at("state_root").as_string())) answered_root = *root;
    } catch (const std::exception&) {
        return fail("the node sent a malformed answer: refusing it");
    }
    if (!proof || !answered_root) return fail("the node sent a malformed proof: refusing the answer");
    std::optional<ledger::Header> header;
    if (genesis) {
        auto h = node::verified_header(o.rpc, *genesis, height);
        if (!h) return fail("block " + std::to_string(height) + ": " + h.error() + ": refusing the answer");
        const auto now = static_cast<std::uint64_t>(std::time(nullptr));
        if (h->time_unix + o.max_header_age < now)
            return fail("block " + std::to_string(height) + " is stale (" + std::to_string(now - h->time_unix) +
                        " s old, --max-header-age " + std::to_string(o.max_header_age) + "): refusing the answer");
        header = *h;
    }
    const auto& root = header ? header->state_root : *answered_root;
    const bool verified =
        ledger::smt_verify(root, ledger::State::account_key(*a),
                           exists ? std::optional(ledger::State::account_value_hash(acc)) : std::nullopt, *proof);
    if (!verified)
        return fail(header ? "the node's proof does not match the certified state root of block " +
                                 std::to_string(height) + ": refusing the answer"
                           : std::string("the node's proof does not match its state root: refusing the answer"));
    if (!header)
        std::cerr << "warning: no --genesis, so the answer is taken on trust (its proof was checked only against "
                     "the root in the same answer)\n";
    if (o.json_out) {
        auto& out = r->as_object();
        out["certified"] = header.has_value();
        out["proof_verified"] = header.has_value();
        if (header) out["state_root"] = util::to_hex_prefixed(header->state_root);
        print_json(*r);
    } else {
        std::cout << a->to_string() << "\n  balance " << acc.balance << "\n  prepaid " << acc.prepaid << "\n  nonce   "
                  << acc.nonce << "\n  ("
                  << (header ? "proof verified against the certified state root of block "
                             : "NOT verified (no --genesis): as the node stated it at block ")
                  << height << ")\n";
    }
    return exit_ok;
}

std::string amount_text(std::uint64_t base_units) {
    const std::uint64_t whole = base_units / ledger::base_units_per_conet;
    std::string frac = std::to_string(base_units % ledger::base_units_per_conet);
    frac.insert(0, 6 - frac.size(), '0');
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    return std::to_string(whole) + (frac.empty() ? "" : "." + frac) + " CONET";
}

void print_summary(const json::object& s) {
    const auto u = [&](const char* k) { return s.at(k).to_number<std::uint64_t>(); };
    std::cout << "  emission " << amount_text(u("emission")) << ": nodes " << amount_text(u("node_pool"))
              << ", validators " << amount_text(u("validator_pool")) << ", developer fund " << amount_text(u("fund"))
              << "\n  minted   " << amount_text(u("minted")) << " (" << amount_text(u("not_minted"))
              << " not minted: rounding and empty pools)\n  nodes    " << u("nodes_measured") << " measured, "
              << u("nodes_paid") << " paid\n";
}

int query_epoch(const LedgerOptions& o) {
    json::array params;
    if (o.epoch) params.push_back(json::value(*o.epoch));
    auto r = rpc::call(o.rpc, "conet_getEpoch", std::move(params));
    if (!r) return rpc_fail(r.error());
    if (o.json_out) {
        print_json(*r);
        return exit_ok;
    }
    const json::object& e = r->as_object();
    if (o.epoch) {
        std::cout << "epoch " << *o.epoch << "\n";
        print_summary(e);
        return exit_ok;
    }
    std::cout << "epoch " << e.at("epoch").to_number<std::uint64_t>() << " (blocks " << e.at("first_height") << "-"
              << e.at("last_height") << ", head " << e.at("head") << "), emission "
              << amount_text(e.at("emission").to_number<std::uint64_t>()) << "\n";
    const auto& fund = e.at("developer_fund").as_object();
    std::cout << "developer fund " << fund.at("address").as_string().c_str() << ": "
              << amount_text(fund.at("balance").to_number<std::uint64_t>()) << "\n";
    const auto& votes = e.at("votes").as_array();
    std::cout << "votes this epoch's blocks carry (the validator pool's weights): " << (votes.empty() ? "none yet" : "")
              << "\n";
    for (const auto& v : votes)
        std::cout << "  " << v.at("validator").as_string().c_str() << " " << v.at("votes") << "\n";
    if (e.at("last").is_object()) {
        std::cout << "last paid epoch " << e.at("last").at("epoch") << ":\n";
        print_summary(e.at("last").as_object());
    } else {
        std::cout << "no epoch paid yet\n";
    }
    return exit_ok;
}

int query_scores(const LedgerOptions& o) {
    auto r = rpc::call(o.rpc, "conet_getScores", {json::value(o.offset), json::value(o.limit)});
    if (!r) return rpc_fail(r.error());
    if (o.json_out) {
        print_json(*r);
        return exit_ok;
    }
    std::cout << "epoch " << r->at("epoch") << ", " << r->at("total") << " nodes\n";
    for (const auto& v : r->at("nodes").as_array()) {
        const auto& n = v.as_object();
        std::cout << std::string_view(n.at("node").as_string()).substr(0, 16) << "… "
                  << n.at("region").as_string().c_str() << " stake "
                  << amount_text(n.at("stake").to_number<std::uint64_t>());
        if (n.at("last").is_object()) {
            const auto& l = n.at("last").as_object();
            std::cout << "  epoch " << l.at("epoch") << ": " << l.at("tier").as_string().c_str() << " (score "
                      << l.at("score_bps").to_number<std::uint64_t>() / 100 << " %, " << l.at("reports")
                      << " reports) reward " << amount_text(l.at("reward").to_number<std::uint64_t>());
        } else {
            std::cout << "  not scored yet";
        }
        if (n.at("jailed").as_bool()) std::cout << "  JAILED: `conet tx unjail --node <key>` once it serves again";
        std::cout << "\n";
    }
    return exit_ok;
}

int query_rewards(const LedgerOptions& o) {
    json::array params{o.address.empty() ? json::value(nullptr) : json::value(o.address),
                       o.epoch ? json::value(*o.epoch) : json::value(nullptr)};
    auto r = rpc::call(o.rpc, "conet_getRewards", std::move(params));
    if (!r) return rpc_fail(r.error());
    if (o.json_out) {
        print_json(*r);
        return exit_ok;
    }
    const json::object& a = r->as_object();
    if (a.contains("latest")) {
        std::cout << a.at("address").as_string().c_str() << ": ";
        if (a.at("latest").is_null()) {
            std::cout << "no reward yet\n";
        } else {
            const auto& l = a.at("latest").as_object();
            std::cout << amount_text(l.at("total").to_number<std::uint64_t>()) << " in epoch " << l.at("epoch")
                      << " (nodes " << amount_text(l.at("node_reward").to_number<std::uint64_t>()) << ", validator "
                      << amount_text(l.at("validator_reward").to_number<std::uint64_t>()) << ")\n";
        }
        std::cout << "  (as the node stated it at block " << a.at("height") << "; --json has the proof)\n";
        return exit_ok;
    }
    std::cout << "epoch " << a.at("epoch") << "\n";
    print_summary(a.at("summary").as_object());
    for (const auto& v : a.at("rewards").as_array())
        std::cout << "  " << v.at("address").as_string().c_str() << " "
                  << amount_text(v.at("total").to_number<std::uint64_t>()) << "\n";
    if (a.at("rewards").as_array().empty()) std::cout << "  nobody was paid\n";
    return exit_ok;
}

void common_tx_options(CLI::App* cmd, LedgerOptions& o) {
    cmd->add_option("--keystore", o.keystore, "Sender's keystore")->required();
    cmd->add_option("--password-file", o.password_file, "File whose first line is the password");
    cmd->add_option("--rpc", o.rpc, "Node JSON-RPC URL")->capture_default_str();
    cmd->add_option("--fee", o.fee, "Fee in base units")->capture_default_str();
    cmd->add_flag("--no-wait", o.no_wait, "Return once the node accepted the transaction");
    cmd->add_option("--wait-seconds", o.wait_seconds, "How long to wait for commitment")->capture_default_str();
    cmd->add_flag("--json", o.json_out, "Print JSON");
}

}  // namespace

void add_ledger_commands(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<LedgerOptions>();
    LedgerOptions& o = *opts;
    auto bind = [&exit_code, opts](CLI::App* cmd, std::function<int(const LedgerOptions&)> run) {
        cmd->final_callback([&exit_code, opts, run] { exit_code = run(*opts); });
    };

    auto* tx = app.add_subcommand("tx", "Sign and send a ledger transaction");
    tx->require_subcommand(1);
    auto* c = tx->add_subcommand("transfer", "Send CONET (base units) to an address");
    common_tx_options(c, o);
    c->add_option("--to", o.to, "Recipient address")->required();
    c->add_option("--amount", o.amount, "Amount in base units (1 CONET = 10^6)")->required();
    bind(c, [](const LedgerOptions& opt) {
        auto to = crypto::Address::parse(opt.to);
        if (!to) return fail("--to: " + std::string(describe(to.error())), exit_usage);
        return send(opt, ledger::TxKind::transfer, ledger::TransferPayload{*to, opt.amount});
    });
    c = tx->add_subcommand("register-node", "Register or update a node record (from `conet node record`)");
    common_tx_options(c, o);
    c->add_option("--record", o.record_file, "JSON file with the signed node record")->required();
    bind(c, [](const LedgerOptions& opt) {
        auto text = util::read_file(opt.record_file, 1 << 20);
        if (!text) return fail(text.error().message());
        boost::system::error_code ec;
        auto doc = json::parse(*text, ec);
        auto rec = ec ? ledger::RecordResult<ledger::NodeRecord>(util::unexpected(ledger::RecordError::malformed))
                      : ledger::NodeRecord::from_json(doc);
        if (!rec) return fail(std::string(ledger::describe(rec.error())), exit_usage);
        return send(opt, ledger::TxKind::register_node, ledger::NodePayload{*rec});
    });
    for (auto [name, kind, help] : {std::tuple{"stake", ledger::TxKind::stake, "Bond balance to your node"},
                                    std::tuple{"unstake", ledger::TxKind::unstake, "Start unbonding stake"}}) {
        c = tx->add_subcommand(name, help);
        common_tx_options(c, o);
        c->add_option("--node", o.node, "The node's Noise key (hex)")->required();
        c->add_option("--amount", o.amount, "Amount in base units")->required();
        bind(c, [kind = kind](const LedgerOptions& opt) {
            auto key = node_key(opt.node);
            if (!key) return fail(key.error(), exit_usage);
            return send(opt, kind, ledger::StakePayload{*key, opt.amount});
        });
    }
    for (auto [name, kind, help] :
         {std::tuple{"deposit", ledger::TxKind::deposit, "Move balance to your prepaid balance"},
          std::tuple{"withdraw", ledger::TxKind::withdraw, "Withdraw prepaid balance (after a delay)"}}) {
        c = tx->add_subcommand(name, help);
        common_tx_options(c, o);
        c->add_option("--amount", o.amount, "Amount in base units")->required();
        bind(c, [kind = kind](const LedgerOptions& opt) { return send(opt, kind, ledger::AmountPayload{opt.amount}); });
    }

    c = tx->add_subcommand("validator-bond",
                           "Bond balance to your validator stake; at each epoch's end the largest bonds take the "
                           "validator seats");
    common_tx_options(c, o);
    c->add_option("--amount", o.amount, "Amount in base units")->required();
    c->add_option("--endpoint", o.endpoint,
                  "HOST:PORT your validator's consensus transport listens on (its validator_listen); once given, "
                  "later bonds may omit it");
    bind(c, [](const LedgerOptions& opt) {
        if (!opt.endpoint.empty())
            if (auto ep = ledger::Endpoint::parse(opt.endpoint); !ep)
                return fail("--endpoint: " + ep.error(), exit_usage);
        return send(opt, ledger::TxKind::validator_bond, ledger::BondPayload{opt.amount, opt.endpoint});
    });
    c = tx->add_subcommand("validator-unbond",
                           "Unbond validator stake: it returns after the unbonding period, and a bond below the "
                           "minimum leaves the set at the next epoch's start");
    common_tx_options(c, o);
    c->add_option("--amount", o.amount, "Amount in base units")->required();
    bind(c, [](const LedgerOptions& opt) {
        return send(opt, ledger::TxKind::validator_unbond, ledger::AmountPayload{opt.amount});
    });

    c = tx->add_subcommand("unjail", "Return your jailed node to service (it is probed and paid again)");
    common_tx_options(c, o);
    c->add_option("--node", o.node, "The node's Noise key (hex)")->required();
    bind(c, [](const LedgerOptions& opt) {
        auto key = node_key(opt.node);
        if (!key) return fail(key.error(), exit_usage);
        return send(opt, ledger::TxKind::unjail, ledger::NodeKeyPayload{*key});
    });
    c = tx->add_subcommand("evidence",
                           "Report a validator that signed two conflicting votes: its bond is slashed to the "
                           "developer fund and it never validates again");
    common_tx_options(c, o);
    c->add_option("--epoch", o.epoch, "The epoch both votes were cast in")->required();
    c->add_option("--vote-a", o.to, "First vote, canonical hex (as `conet debug sign-vote` prints)")->required();
    c->add_option("--vote-b", o.id, "Second vote, canonical hex")->required();
    bind(c, [](const LedgerOptions& opt) {
        auto a = util::from_hex(opt.to);
        auto b = util::from_hex(opt.id);
        auto va = a ? codec::decode<ledger::SignedVote>(*a)
                    : codec::Result<ledger::SignedVote>(util::unexpected(codec::CodecError::bad_value));
        auto vb = b ? codec::decode<ledger::SignedVote>(*b)
                    : codec::Result<ledger::SignedVote>(util::unexpected(codec::CodecError::bad_value));
        if (!va || !vb) return fail("--vote-a and --vote-b must be canonical signed votes in hex", exit_usage);
        return send(opt, ledger::TxKind::evidence, ledger::EvidencePayload{*opt.epoch, *va, *vb});
    });
    c = tx->add_subcommand("usage-claim",
                           "As an exit's operator, claim users' signed receipts (exits claim by themselves; this "
                           "is for tests and recovery)");
    common_tx_options(c, o);
    c->add_option("--node", o.node, "The exit's Noise key (hex)")->required();
    c->add_option("--epoch", o.epoch, "The epoch the receipts are for")->required();
    c->add_option("--receipt", o.receipts, "payer,entry,bytes,signature (repeatable)")->required();
    bind(c, [](const LedgerOptions& opt) {
        auto key = node_key(opt.node);
        if (!key) return fail(key.error(), exit_usage);
        ledger::UsageClaimPayload claim{*key, *opt.epoch, {}};
        for (const auto& text : opt.receipts) {
            auto r = parse_receipt(text);
            if (!r) return fail(r.error(), exit_usage);
            claim.receipts.push_back(*r);
        }
        if (claim.receipts.size() > ledger::UsageClaimPayload::max_receipts)
            return fail("at most " + std::to_string(ledger::UsageClaimPayload::max_receipts) + " receipts per claim",
                        exit_usage);
        return send(opt, ledger::TxKind::usage_claim, claim);
    });
    c = tx->add_subcommand("grant-propose",
                           "Ask the developer fund to pay for work: paid once more than 2/3 of the current "
                           "validators approve, before the end of the expiry epoch");
    common_tx_options(c, o);
    c->add_option("--recipient", o.address, "Who is paid (address)")->required();
    c->add_option("--amount", o.amount, "Amount in base units")->required();
    c->add_option("--reference", o.endpoint, "What it pays for: a commit hash, a URL (at most 256 bytes)")->required();
    c->add_option("--expiry-epoch", o.epoch, "The last epoch in which it may be approved")->required();
    bind(c, [](const LedgerOptions& opt) {
        auto to = crypto::Address::parse(opt.address);
        if (!to) return fail("--recipient: " + std::string(describe(to.error())), exit_usage);
        if (opt.endpoint.size() > ledger::max_grant_reference_bytes)
            return fail("--reference: at most " + std::to_string(ledger::max_grant_reference_bytes) + " bytes",
                        exit_usage);
        return send(opt, ledger::TxKind::grant_propose,
                    ledger::GrantProposal{*to, opt.amount, opt.endpoint, *opt.epoch});
    });
    c = tx->add_subcommand("grant-vote", "As a validator, approve a grant (or withdraw your approval)");
    common_tx_options(c, o);
    c->add_option("--id", o.id, "The grant's id (its proposal's transaction id)")->required();
    c->add_flag("--withdraw", o.reachable, "Withdraw your approval instead");
    bind(c, [](const LedgerOptions& opt) {
        auto id = util::from_hex_fixed<32>(opt.id);
        if (!id) return fail("--id must be a 32-byte hex grant id", exit_usage);
        return send(opt, ledger::TxKind::grant_vote, ledger::GrantVotePayload{*id, !opt.reachable});
    });
    c = tx->add_subcommand("probe-report",
                           "As a validator assigned to probe a node this epoch, report what you measured (validators "
                           "with probing on send these themselves)");
    common_tx_options(c, o);
    c->add_option("--node", o.node, "The node's Noise key (hex), for a report of one node");
    c->add_flag("--reachable", o.reachable, "The probe's challenge came back through the node");
    c->add_option("--rtt-ms", o.rtt_ms, "Measured round trip (ms)")->capture_default_str();
    c->add_option("--kbps", o.kbps, "Measured throughput (kbit/s)")->capture_default_str();
    c->add_option("--report", o.record_file,
                  "JSON file with several nodes: [{\"node\": hex, \"reachable\": bool, \"rtt_ms\": n, "
                  "\"kbps\": n}, …] (instead of --node)")
        ->check(CLI::ExistingFile);
    c->add_option("--epoch", o.epoch, "The epoch measured (default: the current one)");
    bind(c, [](const LedgerOptions& opt) {
        if (opt.node.empty() == opt.record_file.empty()) return fail("give --node or --report", exit_usage);
        std::uint64_t epoch = 0;
        if (opt.epoch) {
            epoch = *opt.epoch;
        } else {
            auto e = rpc::call(opt.rpc, "conet_getEpoch", {});
            if (!e) return rpc_fail(e.error());
            epoch = e->at("epoch").to_number<std::uint64_t>();
        }
        ledger::ProbeReportPayload report{epoch, {}};
        if (!opt.node.empty()) {
            auto key = node_key(opt.node);
            if (!key) return fail(key.error(), exit_usage);
            report.entries.push_back({*key, ledger::ProbeResult{opt.reachable, opt.rtt_ms, opt.kbps}});
        } else {
            auto text = util::read_file(opt.record_file, 1 << 20);
            if (!text) return fail(text.error().message());
            boost::system::error_code ec;
            const json::value doc = json::parse(*text, ec);
            if (ec || !doc.is_array()) return fail("--report must hold a JSON array", exit_usage);
            try {
                for (const auto& v : doc.as_array()) {
                    auto key = node_key(std::string(v.at("node").as_string()));
                    if (!key) return fail("--report: " + key.error(), exit_usage);
                    report.entries.push_back({*key, ledger::ProbeResult{v.at("reachable").as_bool(),
                                                                        v.at("rtt_ms").to_number<std::uint32_t>(),
                                                                        v.at("kbps").to_number<std::uint32_t>()}});
                }
            } catch (const std::exception& e) {
                return fail(
                    std::string("--report: each entry needs node, reachable, rtt_ms and kbps (") + e.what() + ")",
                    exit_usage);
            }
            if (report.entries.size() > ledger::ProbeReportPayload::max_entries)
                return fail("--report: at most " + std::to_string(ledger::ProbeReportPayload::max_entries) +
                                " nodes per report (send several)",
                            exit_usage);
        }
        return send(opt, ledger::TxKind::probe_report, report);
    });

    auto* q = app.add_subcommand("query", "Read the ledger over JSON-RPC");
    q->require_subcommand(1);
    auto add_query = [&](const char* name, const char* help, const char* arg_help) {
        auto* cmd = q->add_subcommand(name, help);
        cmd->add_option("--rpc", o.rpc, "Node JSON-RPC URL")->capture_default_str();
        cmd->add_flag("--json", o.json_out, "Print JSON");
        if (arg_help) cmd->add_option("ID", o.id, arg_help)->required();
        return cmd;
    };
    auto* account = add_query("account", "Balance, nonce and prepaid balance, with a Merkle proof", "Address");
    account
        ->add_option("--genesis", o.genesis,
                     "Genesis JSON: check the proof against a header certified by its validators (without it the "
                     "answer is taken on trust and printed with \"proof_verified\": false)")
        ->check(CLI::ExistingFile);
    account->add_option("--max-header-age", o.max_header_age, "With --genesis: refuse a block older than this (s)")
        ->capture_default_str();
    bind(account, query_account);
    bind(add_query("block", "A block by height", "Height"), [](const LedgerOptions& opt) {
        std::uint64_t h = 0;
        for (char ch : opt.id) {
            if (ch < '0' || ch > '9') return fail("expected a block height", exit_usage);
            h = h * 10 + unsigned(ch - '0');
        }
        return query(opt, "conet_getBlockByHeight", {json::value(h)});
    });
    bind(add_query("tx", "A transaction's status", "Transaction id (hex)"),
         [](const LedgerOptions& opt) { return query(opt, "conet_getTransaction", {json::value(opt.id)}); });
    bind(add_query("node", "A node record with its stake and proof", "Noise key (hex)"),
         [](const LedgerOptions& opt) { return query(opt, "conet_getNode", {json::value(opt.id)}); });
    auto* validators = add_query("validators", "An epoch's validator set with its proof and the bonds now", nullptr);
    validators->add_option("--epoch", o.offset, "Epoch (default: the next block's)");
    bind(validators, [validators](const LedgerOptions& opt) {
        json::array params;
        if (validators->get_option("--epoch")->count() > 0) params.push_back(json::value(opt.offset));
        return query(opt, "conet_getValidatorSet", std::move(params));
    });
    auto* epoch = add_query("epoch", "The current epoch, its emission and the last epoch's distribution", nullptr);
    epoch->add_option("--epoch", o.epoch, "A paid epoch's distribution instead");
    bind(epoch, query_epoch);
    auto* scores = add_query("scores", "Each node's probers, last score, tier, reward and jail state", nullptr);
    scores->add_option("--offset", o.offset, "First node")->capture_default_str();
    scores->add_option("--limit", o.limit, "How many")->capture_default_str();
    bind(scores, query_scores);
    auto* rewards = add_query(
        "rewards", "Rewards: an address's latest (with its proof), or an epoch's (default: the last paid)", nullptr);
    rewards->add_option("--address", o.address, "Whose rewards");
    rewards->add_option("--epoch", o.epoch, "Which epoch");
    bind(rewards, query_rewards);
    auto* grants =
        add_query("grants", "The developer fund and its grants (open first), or one grant with its proof", nullptr);
    grants->add_option("--id", o.id, "One grant's id");
    bind(grants, [](const LedgerOptions& opt) {
        auto r =
            rpc::call(opt.rpc, "conet_getGrants", opt.id.empty() ? json::array{} : json::array{json::value(opt.id)});
        if (!r) return rpc_fail(r.error());
        if (opt.json_out) {
            print_json(*r);
            return exit_ok;
        }
        const auto& fund = r->at("fund").as_object();
        std::cout << "developer fund " << fund.at("address").as_string().c_str() << ": "
                  << amount_text(fund.at("balance").to_number<std::uint64_t>()) << "\n";
        json::array list;
        if (r->as_object().contains("grant"))
            list.push_back(r->at("grant"));
        else
            list = r->at("grants").as_array();
        for (const auto& v : list) {
            const auto& g = v.as_object();
            std::cout << g.at("id").as_string().c_str() << " " << g.at("status").as_string().c_str() << ": "
                      << amount_text(g.at("amount").to_number<std::uint64_t>()) << " to "
                      << g.at("recipient").as_string().c_str() << " for \"" << g.at("reference").as_string().c_str()
                      << "\" (approved by " << g.at("approving_validators").to_number<std::uint64_t>() << " of "
                      << g.at("voting_validators").to_number<std::uint64_t>()
                      << " validators, paid beyond 2/3; expires after epoch " << g.at("expiry_epoch") << ")\n";
        }
        if (list.empty()) std::cout << "no grants yet\n";
        return exit_ok;
    });
    auto* nodes = add_query("nodes", "Registered nodes (paged)", nullptr);
    nodes->add_option("--offset", o.offset, "First node")->capture_default_str();
    nodes->add_option("--limit", o.limit, "How many")->capture_default_str();
    bind(nodes, [](const LedgerOptions& opt) {
        return query(opt, "conet_listNodes", {json::value(opt.offset), json::value(opt.limit)});
    });
}

}  // namespace conet::app
