// A bounded lock-free multi-producer queue (Dmitry Vyukov's bounded MPMC ring).
//
// Why this design: the training thread, and any Python thread, must hand a record over without
// ever blocking or waiting for the sender. Each cell carries a sequence number; a producer claims
// a slot with one compare-and-swap on the enqueue position and publishes it with one release
// store, so TryPush is wait-free when uncontended and never takes a lock. When the ring is full
// TryPush fails at once and the caller counts a drop (OpenTelemetry's CircularBuffer::Add does
// the same).
//
// Tickets: every accepted item gets the enqueue position it claimed, 0, 1, 2, ... with no gaps,
// in the order items were accepted. TryPop hands the ticket back with the item, so the consumer
// can derive a record's seq from it without the producer writing anything but the item.
//
// Threading: any number of producers and consumers may call concurrently (libatlas has one
// consumer, the sender thread). ApproxSize is a snapshot that may be stale by the time it is
// read. A producer preempted between its claim and its publish makes later items invisible to
// TryPop until it resumes; the consumer then sees "empty" and retries on its next wake-up.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <utility>

namespace atlas::core {

template <typename T>
class MpmcRing {
 public:
  // `capacity` is rounded up to a power of two (at least 2).
  explicit MpmcRing(std::size_t capacity)
      : capacity_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity)),
        mask_(capacity_ - 1),
        cells_(std::make_unique<Cell[]>(capacity_)) {
    for (std::size_t i = 0; i < capacity_; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
  }

  MpmcRing(const MpmcRing&) = delete;
  MpmcRing& operator=(const MpmcRing&) = delete;

  std::size_t capacity() const { return capacity_; }

  // Moves `item` into the ring; returns false (and leaves `item` untouched) when full.
  bool TryPush(T& item) noexcept {
    std::uint64_t pos = enqueue_pos_.load(std::memory_order_relaxed);
    while (true) {
      Cell& cell = cells_[pos & mask_];
      const std::uint64_t seq = cell.seq.load(std::memory_order_acquire);
      const auto diff = static_cast<std::int64_t>(seq - pos);
      if (diff == 0) {
        if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          cell.item.emplace(std::move(item));
          cell.seq.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;  // the cell still holds an item from one lap ago: full
      } else {
        pos = enqueue_pos_.load(std::memory_order_relaxed);
      }
    }
  }

  // Takes the oldest published item and its ticket, or returns false when none is visible.
  bool TryPop(T& out, std::uint64_t& ticket) noexcept {
    std::uint64_t pos = dequeue_pos_.load(std::memory_order_relaxed);
    while (true) {
      Cell& cell = cells_[pos & mask_];
      const std::uint64_t seq = cell.seq.load(std::memory_order_acquire);
      const auto diff = static_cast<std::int64_t>(seq - (pos + 1));
      if (diff == 0) {
        if (dequeue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          out = std::move(*cell.item);
          cell.item.reset();
          cell.seq.store(pos + capacity_, std::memory_order_release);
          ticket = pos;
          return true;
        }
      } else if (diff < 0) {
        return false;  // empty, or the next producer has not published yet
      } else {
        pos = dequeue_pos_.load(std::memory_order_relaxed);
      }
    }
  }

  // How many tickets have been handed out (the next item's ticket).
  std::uint64_t Claimed() const noexcept { return enqueue_pos_.load(std::memory_order_acquire); }

  // How many items are claimed but not yet taken; may be stale.
  std::size_t ApproxSize() const noexcept {
    const std::uint64_t enq = enqueue_pos_.load(std::memory_order_relaxed);
    const std::uint64_t deq = dequeue_pos_.load(std::memory_order_relaxed);
    return enq > deq ? static_cast<std::size_t>(enq - deq) : 0;
  }

 private:
  struct Cell {
    std::atomic<std::uint64_t> seq{0};
    std::optional<T> item;
  };

  // Producers and the consumer touch different positions; keeping them on separate cache lines
  // avoids false sharing between the training thread and the sender.
  static constexpr std::size_t kCacheLine = 64;

  const std::size_t capacity_;
  const std::size_t mask_;
  std::unique_ptr<Cell[]> cells_;
  alignas(kCacheLine) std::atomic<std::uint64_t> enqueue_pos_{0};
  alignas(kCacheLine) std::atomic<std::uint64_t> dequeue_pos_{0};
};

}  // namespace atlas::core
