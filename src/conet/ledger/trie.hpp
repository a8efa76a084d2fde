#pragma once
/// A persistent binary trie over fixed-size byte keys (path-collapsed: only
/// leaves and branching nodes exist, each branch naming the bit where its two
/// subtrees part). Copying a trie is O(1) and shares every node; a change
/// copies the nodes on its path that are shared with another trie and changes
/// in place those this trie owns alone, so set and erase cost O(depth).
///
/// A node's position (its key prefix and depth) depends only on the set of
/// keys, never on how the trie was built, which is what lets the sparse Merkle
/// tree persist only its leaves (the branches follow from their keys) and
/// `diff` two versions by walking both in position order, skipping shared
/// subtrees.
///
/// Not thread-safe for writes; reference counts are atomic so that copies may
/// live on different threads.

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "conet/util/assert.hpp"

namespace conet::ledger::trie {

template <std::size_t N>
using Key = std::array<std::uint8_t, N>;

template <std::size_t N>
inline bool bit(const Key<N>& k, std::size_t i) {
    return (k[i / 8] >> (7 - i % 8)) & 1;
}

/// Index of the first bit where `a` and `b` differ, N * 8 when equal.
template <std::size_t N>
inline std::size_t first_difference(const Key<N>& a, const Key<N>& b) {
    for (std::size_t i = 0; i < N; ++i)
        if (a[i] != b[i]) return i * 8 + std::countl_zero(static_cast<std::uint8_t>(a[i] ^ b[i]));
    return N * 8;
}

/// `k` with every bit from `depth` on cleared.
template <std::size_t N>
inline Key<N> prefix(const Key<N>& k, std::size_t depth) {
    Key<N> p{};
    for (std::size_t i = 0; i < N && i * 8 < depth; ++i) {
        const std::size_t keep = std::min<std::size_t>(8, depth - i * 8);
        p[i] = static_cast<std::uint8_t>(k[i] & (0xff << (8 - keep)));
    }
    return p;
}

#if defined(__SANITIZE_ADDRESS__)
#define CONET_TRIE_PLAIN_NEW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONET_TRIE_PLAIN_NEW 1
#endif
#endif

/// Memory for nodes of one type: one free list shared by all threads,
/// refilled from 64 KiB slabs that are never returned. A block's path copies
/// allocate, and dropping the previous version frees, hundreds of thousands of
/// nodes; through malloc, most of that time went to consolidating its
/// small-chunk bins whenever something large was allocated (measured with
/// perf: malloc_consolidate and unlink_chunk). Here each costs an uncontended
/// lock and a pointer swap, and freed nodes are reused while still in cache.
/// The pool keeps the peak number of nodes ever live. Under AddressSanitizer
/// nodes use plain new, so that use-after-free is still caught.
template <std::size_t Size, std::size_t Align>
class NodePool {
public:
    static void* allocate() {
        std::lock_guard lock(mutex());
        Free*& head = free_list();
        if (!head) refill(head);
        Free* f = head;
        head = f->next;
        return f;
    }
    static void deallocate(void* p) {
        std::lock_guard lock(mutex());
        Free*& head = free_list();
        head = new (p) Free{head};
    }

private:
    struct Free {
        Free* next;
    };
    static constexpr std::size_t slab_bytes = 64 * 1024;
    static constexpr std::size_t cache_line_bytes = 64;
    // Nodes start on 32-byte boundaries of 64-byte aligned slabs, so that a
    // branch's depth and child pointers (22 bytes, see Node) never straddle
    // two cache lines.
    static constexpr std::size_t stride_align = std::max<std::size_t>(Align, 32);
    static constexpr std::size_t stride =
        (std::max(Size, sizeof(Free)) + stride_align - 1) / stride_align * stride_align;
    static_assert(stride <= slab_bytes);
    static std::mutex& mutex() {
        static std::mutex m;
        return m;
    }
    static Free*& free_list() {
        static Free* head = nullptr;
        return head;
    }
    static void refill(Free*& head) {
        auto* slab = static_cast<std::byte*>(::operator new (slab_bytes, std::align_val_t{Align}));
        for (std::size_t off = 0; off + stride <= slab_bytes; off += stride) head = new (slab + off) Free{head};
    }
};

/// Gives a node type its memory from NodePool (plain new under ASan).
template <class T>
struct Pooled {
#ifndef CONET_TRIE_PLAIN_NEW
    static void* operator new(std::size_t size) {
        CONET_ASSERT_MSG(size == sizeof(T), "pooled trie nodes have one size");
        return NodePool<sizeof(T), alignof(T)>::allocate();
    }
    static void operator delete(void* p) {
        NodePool<sizeof(T), alignof(T)>::deallocate(p);
    }
#endif
};

struct NoCache {
    void reset() {}
};

template <std::size_t N, class Cache>
struct Node {
    static constexpr std::uint16_t leaf_depth = N * 8;
    // Member order matters: a lookup reads only `depth` and then a branch's
    // child pointers, which follow this struct, so `depth` comes last and the
    // two usually share a cache line (with the cache first, the 32-byte Merkle
    // hash put 70 bytes between them: two misses per level instead of one).
    [[no_unique_address]] mutable Cache cache{};
    /// A leaf's key; a branch's path prefix (bits from `depth` on are zero).
    Key<N> key{};
    /// A branch's split bit, leaf_depth for a leaf.
    std::uint16_t depth = leaf_depth;
    std::atomic<std::uint32_t> refs{1};
    bool is_leaf() const { return depth == leaf_depth; }
    /// Position order: by key (prefix), then depth. It is pre-order. Negative,
    /// zero or positive as `a` comes before, at or after `b` (one key compare).
    friend int position_compare(const Node& a, const Node& b) {
        const int c = std::memcmp(a.key.data(), b.key.data(), N);
        return c != 0 ? c : int{a.depth} - int{b.depth};
    }
};

template <std::size_t N, class Value, class Cache>
struct Leaf : Node<N, Cache>, Pooled<Leaf<N, Value, Cache>> {
    Value value{};
};

template <std::size_t N, class Cache>
struct Branch : Node<N, Cache>, Pooled<Branch<N, Cache>> {
    Node<N, Cache>* child[2] = {nullptr, nullptr};
};

template <std::size_t N, class Value, class Cache = NoCache>
class Trie {
public:
    using K = Key<N>;
    using NodeT = Node<N, Cache>;
    using LeafT = Leaf<N, Value, Cache>;
    using BranchT = Branch<N, Cache>;

    Trie() = default;
    Trie(const Trie& o) : m_root(retain(o.m_root)), m_size(o.m_size) {}
    Trie(Trie&& o) noexcept : m_root(std::exchange(o.m_root, nullptr)), m_size(std::exchange(o.m_size, 0)) {}
    Trie& operator=(Trie o) noexcept {
        std::swap(m_root, o.m_root);
        std::swap(m_size, o.m_size);
        return *this;
    }
    ~Trie() { release(m_root); }

    std::size_t size() const { return m_size; }
    const NodeT* root_node() const { return m_root; }

    const Value* find(const K& key) const {
        const NodeT* leaf = nearest(key);
        return leaf && leaf->key == key ? &as_leaf(leaf)->value : nullptr;
    }

    void set(const K& key, const Value& value) {
        const NodeT* near = nearest(key);
        if (!near) {
            m_root = make_leaf(key, value);
            m_size = 1;
            return;
        }
        const std::size_t d = first_difference(key, near->key);
        if (d == N * 8) {
            if (as_leaf(near)->value == value) return;  // no change, no path copy
            m_root = replace(m_root, key, value);
            return;
        }
        m_root = insert(m_root, key, value, d);
        ++m_size;
    }

    bool erase(const K& key) {
        const NodeT* near = nearest(key);
        if (!near || near->key != key) return false;
        m_root = erase_below(m_root, key);
        --m_size;
        return true;
    }

    /// Calls f(key, value) for every leaf in key order.
    template <class F>
    void for_each(F&& f) const {
        walk(m_root, f);
    }

    /// Builds a trie from strictly increasing keys in O(n).
    static Trie from_sorted(const std::vector<std::pair<K, Value>>& entries) {
        Trie t;
        if (!entries.empty()) t.m_root = build(entries, 0, entries.size());
        t.m_size = entries.size();
        return t;
    }

    /// Takes ownership of a root built by hand (the Merkle tree's loader).
    static Trie adopt(NodeT* root, std::size_t size) {
        Trie t;
        t.m_root = root;
        t.m_size = size;
        return t;
    }

    /// Calls f(before, after) for every position where `a` and `b` differ:
    /// a node only in `a` (after == nullptr), only in `b` (before == nullptr),
    /// or in both as different nodes. Subtrees the two share are skipped.
    template <class F>
    static void diff(const Trie& a, const Trie& b, F&& f) {
        Cursor ca(a.m_root), cb(b.m_root);
        while (ca.node() || cb.node()) {
            const NodeT* x = ca.node();
            const NodeT* y = cb.node();
            if (x == y) {
                ca.skip();
                cb.skip();
                continue;
            }
            const int order = x && y ? position_compare(*x, *y) : (x ? -1 : 1);
            if (order == 0) {
                f(x, y);
                ca.descend();
                cb.descend();
            } else if (order < 0) {
                f(x, nullptr);
                ca.descend();
            } else {
                f(nullptr, y);
                cb.descend();
            }
        }
    }

    static const LeafT* as_leaf(const NodeT* n) { return static_cast<const LeafT*>(n); }
    static const BranchT* as_branch(const NodeT* n) { return static_cast<const BranchT*>(n); }
    static LeafT* make_leaf(const K& key, const Value& value) {
        auto* l = new LeafT;
        l->key = key;
        l->value = value;
        return l;
    }
    static BranchT* make_branch(std::size_t depth, const K& any_key_below, NodeT* left, NodeT* right) {
        auto* b = new BranchT;
        b->depth = static_cast<std::uint16_t>(depth);
        b->key = prefix(any_key_below, depth);
        b->child[0] = left;
        b->child[1] = right;
        return b;
    }
    /// Frees a hand-built subtree (the loader's error path).
    static void release(NodeT* n) {
        if (!n || n->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
        if (n->is_leaf()) {
            delete static_cast<LeafT*>(n);
        } else {
            auto* b = static_cast<BranchT*>(n);
            release(b->child[0]);
            release(b->child[1]);
            delete b;
        }
    }

private:
    /// Pre-order walk with the option to skip a node's subtree.
    class Cursor {
    public:
        explicit Cursor(const NodeT* root) {
            if (root) m_stack.push_back(root);
        }
        const NodeT* node() const { return m_stack.empty() ? nullptr : m_stack.back(); }
        void skip() { m_stack.pop_back(); }
        void descend() {
            const NodeT* n = m_stack.back();
            m_stack.pop_back();
            if (!n->is_leaf()) {
                m_stack.push_back(as_branch(n)->child[1]);
                m_stack.push_back(as_branch(n)->child[0]);
            }
        }

    private:
        std::vector<const NodeT*> m_stack;
    };

    static NodeT* retain(NodeT* n) {
        if (n) n->refs.fetch_add(1, std::memory_order_relaxed);
        return n;
    }

    const NodeT* nearest(const K& key) const {
        const NodeT* n = m_root;
        while (n && !n->is_leaf()) n = as_branch(n)->child[bit(key, n->depth)];
        return n;
    }

    /// `n` is held by a slot this trie owns: returns a node it may change
    /// (n itself when no other trie holds it, else a copy), caches cleared.
    static NodeT* own(NodeT* n) {
        if (n->refs.load(std::memory_order_acquire) != 1) {
            NodeT* copy;
            if (n->is_leaf()) {
                auto* l = new LeafT;
                l->value = as_leaf(n)->value;
                copy = l;
            } else {
                auto* b = new BranchT;
                b->child[0] = retain(as_branch(n)->child[0]);
                b->child[1] = retain(as_branch(n)->child[1]);
                copy = b;
            }
            copy->depth = n->depth;
            copy->key = n->key;
            release(n);
            n = copy;
        }
        n->cache.reset();
        return n;
    }

    static NodeT* replace(NodeT* n, const K& key, const Value& value) {
        n = own(n);
        if (n->is_leaf()) {
            static_cast<LeafT*>(n)->value = value;
        } else {
            NodeT*& c = static_cast<BranchT*>(n)->child[bit(key, n->depth)];
            c = replace(c, key, value);
        }
        return n;
    }

    /// Inserts a new key that first differs from the trie's keys at bit `d`.
    static NodeT* insert(NodeT* n, const K& key, const Value& value, std::size_t d) {
        if (n->depth > d) {
            NodeT* leaf = make_leaf(key, value);
            return bit(key, d) ? make_branch(d, key, n, leaf) : make_branch(d, key, leaf, n);
        }
        n = own(n);
        NodeT*& c = static_cast<BranchT*>(n)->child[bit(key, n->depth)];
        c = insert(c, key, value, d);
        return n;
    }

    /// Removes `key` (present) from the subtree `n`; returns its replacement.
    static NodeT* erase_below(NodeT* n, const K& key) {
        if (n->is_leaf()) {
            release(n);
            return nullptr;
        }
        const bool side = bit(key, n->depth);
        if (as_branch(n)->child[side]->is_leaf()) {
            // The branch goes away; its other subtree takes its place unchanged.
            NodeT* sibling = retain(as_branch(n)->child[!side]);
            release(n);
            return sibling;
        }
        n = own(n);
        NodeT*& c = static_cast<BranchT*>(n)->child[side];
        c = erase_below(c, key);
        return n;
    }

    template <class F>
    static void walk(const NodeT* n, F& f) {
        if (!n) return;
        if (n->is_leaf()) {
            f(n->key, as_leaf(n)->value);
            return;
        }
        walk(as_branch(n)->child[0], f);
        walk(as_branch(n)->child[1], f);
    }

    static NodeT* build(const std::vector<std::pair<K, Value>>& e, std::size_t lo, std::size_t hi) {
        if (hi - lo == 1) return make_leaf(e[lo].first, e[lo].second);
        const std::size_t d = first_difference(e[lo].first, e[hi - 1].first);
        CONET_ASSERT_MSG(d < N * 8, "trie keys must be strictly increasing");
        const auto split = std::partition_point(e.begin() + static_cast<std::ptrdiff_t>(lo),
                                                e.begin() + static_cast<std::ptrdiff_t>(hi),
                                                [&](const auto& kv) { return !bit(kv.first, d); });
        const auto mid = static_cast<std::size_t>(split - e.begin());
        NodeT* left = build(e, lo, mid);
        return make_branch(d, e[lo].first, left, build(e, mid, hi));
    }

    NodeT* m_root = nullptr;
    std::size_t m_size = 0;
};

}  // namespace conet::ledger::trie
