#pragma once

// The pure parts of the open-loop sender of `sim burst` / `sim replay`
// (sim/burst_send.cpp, sim/README.md "Sending"):
//
// - dispatcher: one shared schedule of every event by due time; decides which
//   events may leave now. Bids of one auction may be in flight together (an
//   auction platform sends each bid when it happens, from many workers);
//   only the dependencies that matter hold an event back (see free_to_go).
// - connection_pool: which keep-alive connection takes the next request, and
//   when the pool may grow.
// - read_ingest_answer / read_ingest_results: Gavel's answers (docs/ingest.md)
//   read without building a JSON DOM: the sender reads one per event.
//
// No I/O and no clock here: times are passed in (ms after the start), so the
// unit tests (tests/sim/dispatch_test.cpp) drive them directly. Header-only
// so the sim test binary needs no build change to use it.

#include "sim/workload.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <queue>
#include <string_view>
#include <vector>

namespace gavel::sim {

/// One event's place in the open-loop schedule.
struct schedule_entry {
  double due = 0;            ///< ms after the start
  std::uint32_t auction = 0; ///< index into the scripts
  std::uint32_t event = 0;   ///< index into that script's events
};

/// Decides which events of an open-loop schedule may be sent, and when.
///
/// An event is *due* at its scheduled time and *free* when its dependencies
/// were answered (any definitive answer: accepted, duplicate, rejected or
/// failed):
/// - an auction's first event (usually `auction.opened`; for an implicit
///   open the first bid) before anything else of that auction: the platform
///   creates the auction before it takes bids, and Gavel's answer to the
///   later `auction.opened` must be `duplicate`;
/// - `auction.closed` only after all earlier events of its auction, and
///   nothing of the auction after the close before the close's answer (a
///   bid racing the close would be refused 409, and the close's
///   total_bid_count must count every bid);
/// - a resend only after its original (it must be answered `duplicate` with
///   the original's bid_sequence).
/// Everything else, in particular other bids of the same auction, may be in
/// flight together: Gavel sequences them in arrival order and its answers
/// carry the bid_sequence it gave.
///
/// Due events that are free are *ready*; take() hands them out earliest due
/// first. Not thread-safe: the sender calls it under its lock.
class dispatcher {
public:
  /// `schedule` lists every event of `scripts` once. Along a script, due
  /// times are made non-decreasing (an event never becomes due before an
  /// earlier event of its auction); ties go in script order.
  dispatcher(const std::vector<auction_script>& scripts,
             std::vector<schedule_entry> schedule)
      : scripts_(scripts), schedule_(std::move(schedule)), tracks_(scripts.size()) {
    std::size_t offset = 0;
    for (std::size_t a = 0; a < scripts.size(); ++a) {
      tracks_[a].offset = offset;
      offset += scripts[a].events.size();
    }
    done_.assign(offset, 0);
    // Clamp dues along each script, then order by (due, auction, event).
    std::vector<double> due(offset, -std::numeric_limits<double>::infinity());
    for (const auto& e : schedule_)
      due[tracks_[e.auction].offset + e.event] = e.due;
    for (std::size_t a = 0; a < scripts.size(); ++a)
      for (std::size_t i = 1; i < scripts[a].events.size(); ++i) {
        auto& d = due[tracks_[a].offset + i];
        d = std::max(d, due[tracks_[a].offset + i - 1]);
      }
    for (auto& e : schedule_)
      e.due = due[tracks_[e.auction].offset + e.event];
    std::sort(schedule_.begin(), schedule_.end(), earlier{});
  }

  /// Moves every event due at `now` past the schedule cursor: the free ones
  /// become ready, the others wait for their dependency. Returns whether an
  /// event is ready.
  bool poll(double now) {
    while (cursor_ < schedule_.size() && schedule_[cursor_].due <= now) {
      const auto& e = schedule_[cursor_++];
      auto& t = tracks_[e.auction];
      if (free_to_go(e, t.gate))
        ready_.push(e);
      else {
        t.waiting.push_back({e, t.gate});
        ++waiting_;
      }
      // Later events of the auction wait for this close's answer.
      if (kind(e) == event_kind::closed)
        t.gate = e.event;
    }
    return !ready_.empty();
  }

  /// Takes up to `limit` ready events, earliest due first, appending them to
  /// `out`. Call poll() first.
  void take(std::size_t limit, std::vector<schedule_entry>& out) {
    for (std::size_t n = 0; n < limit && !ready_.empty(); ++n) {
      out.push_back(ready_.top());
      ready_.pop();
      ++taken_;
    }
  }

  /// Records the definitive answer of a taken event; events of its auction
  /// that were waiting for it become ready. `now`: for held_ms.
  void answered(std::uint32_t auction, std::uint32_t event, double now) {
    auto& t = tracks_[auction];
    auto& flag = done_[t.offset + event];
    if (flag)
      return;
    flag = 1;
    ++t.answered;
    ++answered_;
    if (t.waiting.empty())
      return;
    // Release in schedule order what is free now; the rest keeps waiting.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < t.waiting.size(); ++i) {
      const auto w = t.waiting[i];
      if (free_to_go(w.entry, w.gate)) {
        ready_.push(w.entry);
        --waiting_;
        ++held_;
        max_held_ms_ = std::max(max_held_ms_, now - w.entry.due);
      } else {
        t.waiting[kept++] = w;
      }
    }
    t.waiting.resize(kept);
  }

  /// Due time of the next event not yet polled; +infinity when none is left.
  double next_due() const {
    return cursor_ < schedule_.size() ? schedule_[cursor_].due
                                      : std::numeric_limits<double>::infinity();
  }
  /// Every event was taken and answered.
  bool finished() const { return answered_ == schedule_.size(); }
  /// Events ready now (polled, free, not taken).
  std::size_t ready() const { return ready_.size(); }
  /// Events due at `now` and not taken yet (ready, waiting for a dependency,
  /// or not polled yet).
  std::size_t backlog(double now) const {
    return ready_.size() + waiting_ + unpolled_due(now);
  }
  /// The earliest due time among the events of backlog(now); +infinity when
  /// there are none.
  double oldest_backlog_due(double now) const {
    double t = std::numeric_limits<double>::infinity();
    if (!ready_.empty())
      t = ready_.top().due;
    if (cursor_ < schedule_.size() && schedule_[cursor_].due <= now)
      t = std::min(t, schedule_[cursor_].due);
    if (waiting_ > 0)
      for (const auto& tr : tracks_)
        if (!tr.waiting.empty())
          t = std::min(t, tr.waiting.front().entry.due);
    return t;
  }
  /// Events that waited past their due time for a dependency (released by
  /// answered()), and the longest such wait in ms.
  std::size_t held() const { return held_; }
  double max_held_ms() const { return max_held_ms_; }
  std::size_t size() const { return schedule_.size(); }
  std::size_t taken() const { return taken_; }

private:
  struct earlier {
    bool operator()(const schedule_entry& x, const schedule_entry& y) const {
      if (x.due != y.due)
        return x.due < y.due;
      if (x.auction != y.auction)
        return x.auction < y.auction;
      return x.event < y.event;
    }
  };
  struct later {
    bool operator()(const schedule_entry& x, const schedule_entry& y) const {
      return earlier{}(y, x);
    }
  };
  /// A due event that is not free yet, with the gate that applies to it (a
  /// close polled after it gates only the events after that close).
  struct held_entry {
    schedule_entry entry;
    std::uint32_t gate;
  };
  struct track {
    std::size_t offset = 0;     ///< of the auction's first event in done_
    std::uint32_t answered = 0; ///< events of the auction answered
    /// The event the auction's events polled from now on wait for: its
    /// first event, then its latest polled close.
    std::uint32_t gate = 0;
    std::vector<held_entry> waiting; ///< due but not free, in schedule order
  };

  event_kind kind(const schedule_entry& e) const {
    return scripts_[e.auction].events[e.event].kind;
  }
  bool is_done(std::uint32_t auction, std::size_t event) const {
    return done_[tracks_[auction].offset + event] != 0;
  }
  /// `gate`: the auction's first event or the latest close before `e`.
  bool free_to_go(const schedule_entry& e, std::uint32_t gate) const {
    const auto auction = e.auction;
    const auto event = e.event;
    const auto& t = tracks_[auction];
    const auto& ev = scripts_[auction].events[event];
    if (ev.kind == event_kind::closed) {
      // Events after this close are gated on it, so every answered event
      // of the auction is an earlier one.
      if (t.answered < event)
        return false;
    } else if (event > 0 && !is_done(auction, gate)) {
      return false;
    }
    if (ev.resend_of >= 0 && !is_done(auction, static_cast<std::size_t>(ev.resend_of)))
      return false;
    return true;
  }
  std::size_t unpolled_due(double now) const {
    auto end = std::upper_bound(
        schedule_.begin() + static_cast<std::ptrdiff_t>(cursor_), schedule_.end(), now,
        [](double t, const schedule_entry& e) { return t < e.due; });
    return static_cast<std::size_t>(end - schedule_.begin()) - cursor_;
  }

  const std::vector<auction_script>& scripts_;
  std::vector<schedule_entry> schedule_; ///< by due time
  std::size_t cursor_ = 0;               ///< first event not polled yet
  std::vector<track> tracks_;            ///< per auction
  std::vector<std::uint8_t> done_;       ///< answered, per event (flat)
  std::priority_queue<schedule_entry, std::vector<schedule_entry>, later> ready_;
  std::size_t waiting_ = 0;
  std::size_t answered_ = 0;
  std::size_t taken_ = 0;
  std::size_t held_ = 0;
  double max_held_ms_ = 0;
};

/// Which keep-alive connection takes the next request. Idle connections are
/// reused first in, first out, so every connection of the pool carries
/// traffic and none sits idle long enough for the server to close it. When
/// all are busy, the pool grows by one, up to `max` (as wrk2 or k6's
/// constant-arrival-rate would add a virtual user); at the cap the request
/// waits for a connection to come back (counted: the client, not the server,
/// is then the bottleneck).
class connection_pool {
public:
  /// `initial` connections (--connections), at most `max` (>= initial).
  connection_pool(std::size_t initial, std::size_t max)
      : initial_(initial), max_(std::max(initial, max)) {
    for (std::size_t i = 0; i < initial_; ++i)
      idle_.push_back(i);
  }
  /// The index of a connection to use (a new index when the pool grew: the
  /// caller opens connection `size() - 1`); nullopt when all `max` are busy.
  std::optional<std::size_t> acquire() {
    if (!idle_.empty()) {
      auto i = idle_.front();
      idle_.pop_front();
      note_busy();
      return i;
    }
    if (size_ < max_) {
      note_busy();
      return size_++;
    }
    ++refused_;
    return std::nullopt;
  }
  /// Connection `i` finished its request.
  void release(std::size_t i) {
    idle_.push_back(i);
    --busy_;
  }
  /// Connections opened (or ready to be) so far.
  std::size_t size() const { return size_; }
  std::size_t max() const { return max_; }
  std::size_t busy() const { return busy_; }
  /// Most connections busy at once.
  std::size_t peak_busy() const { return peak_busy_; }
  /// Connections opened beyond the initial size.
  std::size_t grown() const { return size_ - initial_; }
  /// acquire() calls that found all `max` connections busy.
  std::size_t refused() const { return refused_; }

private:
  void note_busy() { peak_busy_ = std::max(peak_busy_, ++busy_); }

  std::size_t initial_;
  std::size_t max_;
  std::size_t size_ = initial_;
  std::deque<std::size_t> idle_;
  std::size_t busy_ = 0;
  std::size_t peak_busy_ = 0;
  std::size_t refused_ = 0;
};

/// One item of Gavel's ingest answer (docs/ingest.md). The views point into the
/// answer's body.
struct ingest_answer {
  std::string_view status; ///< accepted | duplicate | rejected; empty when absent
  std::optional<std::int64_t> bid_sequence;
  std::string_view event_id; ///< as written between the quotes (escapes kept)
  std::string_view error;    ///< the raw JSON text of `error`; empty when absent
};

namespace detail {

/// A forgiving reader of the few JSON shapes Gavel answers with. It does not
/// validate everything (the sender only needs three fields); it never reads
/// out of bounds.
class answer_scanner {
public:
  explicit answer_scanner(std::string_view text)
      : p_(text.data()), end_(text.data() + text.size()) {}

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }
  bool eat(char c) {
    ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return p_ < end_ && *p_ == c;
  }
  /// A string's contents between its quotes, escapes kept.
  bool string(std::string_view& out) {
    if (!eat('"'))
      return false;
    const char* start = p_;
    while (p_ < end_ && *p_ != '"')
      p_ += *p_ == '\\' ? 2 : 1;
    if (p_ >= end_)
      return false;
    out = std::string_view(start, static_cast<std::size_t>(p_ - start));
    ++p_;
    return true;
  }
  /// Skips one value of any kind; `raw` gets its text.
  bool value(std::string_view& raw) {
    ws();
    const char* start = p_;
    if (p_ >= end_)
      return false;
    if (*p_ == '"') {
      std::string_view s;
      if (!string(s))
        return false;
    } else if (*p_ == '{' || *p_ == '[') {
      int depth = 0;
      while (p_ < end_) {
        const char c = *p_;
        if (c == '"') {
          std::string_view s;
          if (!string(s))
            return false;
          continue;
        }
        ++p_;
        if (c == '{' || c == '[')
          ++depth;
        else if ((c == '}' || c == ']') && --depth == 0)
          break;
      }
      if (depth != 0)
        return false;
    } else {
      while (p_ < end_ && *p_ != ',' && *p_ != '}' && *p_ != ']' && *p_ != ' ' &&
             *p_ != '\n' && *p_ != '\r' && *p_ != '\t')
        ++p_;
      if (p_ == start)
        return false;
    }
    raw = std::string_view(start, static_cast<std::size_t>(p_ - start));
    return true;
  }
  /// One answer object: `{"event_id":..,"bid_sequence":..,"status":..}`.
  bool answer(ingest_answer& out) {
    out = {};
    if (!eat('{'))
      return false;
    if (eat('}'))
      return true;
    do {
      std::string_view key, raw;
      if (!string(key) || !eat(':') || !value(raw))
        return false;
      if (key == "status") {
        if (raw.size() >= 2 && raw.front() == '"')
          out.status = raw.substr(1, raw.size() - 2);
      } else if (key == "bid_sequence") {
        std::int64_t v = 0;
        auto res = std::from_chars(raw.data(), raw.data() + raw.size(), v);
        if (res.ec == std::errc{} && res.ptr == raw.data() + raw.size())
          out.bid_sequence = v;
      } else if (key == "event_id") {
        if (raw.size() >= 2 && raw.front() == '"')
          out.event_id = raw.substr(1, raw.size() - 2);
      } else if (key == "error") {
        out.error = raw;
      }
    } while (eat(','));
    return eat('}');
  }
  bool at_end() {
    ws();
    return p_ == end_;
  }

private:
  const char* p_;
  const char* end_;
};

} // namespace detail

/// Reads a single-event answer (`{"event_id","bid_sequence","status"}`);
/// false when `text` is not a JSON object.
inline bool read_ingest_answer(std::string_view text, ingest_answer& out) {
  detail::answer_scanner s(text);
  return s.answer(out) && s.at_end();
}

/// Reads a batch answer (`{"results":[{...},...]}`), one item per result in
/// order; false (and `out` possibly partial) when it is not that shape.
inline bool read_ingest_results(std::string_view text, std::vector<ingest_answer>& out) {
  out.clear();
  detail::answer_scanner s(text);
  if (!s.eat('{'))
    return false;
  bool found = false;
  if (!s.peek('}')) {
    do {
      std::string_view key, raw;
      if (!s.string(key) || !s.eat(':'))
        return false;
      if (key == "results" && s.peek('[')) {
        s.eat('[');
        found = true;
        if (!s.eat(']')) {
          do {
            out.emplace_back();
            if (!s.answer(out.back()))
              return false;
          } while (s.eat(','));
          if (!s.eat(']'))
            return false;
        }
      } else if (!s.value(raw)) {
        return false;
      }
    } while (s.eat(','));
  }
  return s.eat('}') && s.at_end() && found;
}

} // namespace gavel::sim
