// Layer health's statistics kernels (atlas_observatory/layer_health.py's CPU fast path) and
// the layer_stats JSON writer, for atlas_observatory._atlas; and the gradient noise scale's
// per-step pass on CPU (gradient_noise.py).
//
// Layer health reduces every watched activation, weight and gradient of a sampled step. With
// torch operations that is several passes per tensor (sum, |a|, a > 0, norm, ...) and many small
// calls; these kernels take each statistic of a tensor in one pass over its memory. They run on
// the training thread, on CPU float32 data the caller keeps alive for the call, and release the
// GIL while they work (they touch no Python object then).
//
// Instruction sets: the wheel is built for the x86-64 baseline (SSE2), so that it runs on any
// x86-64 CPU. Each kernel's entry point is also compiled for AVX2 (GCC/Clang function
// multiversioning: target_clones), and the loader picks the AVX2 clone once, when the module is
// loaded, on CPUs that have it: twice the vector width on the passes over activations. The
// helpers the entry points call are always inlined, so each clone has its own copy of them.
// Elsewhere (aarch64, no ifunc support) the kernels are compiled once, for the target.
#include "kernels.hpp"

#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace nb = nanobind;

#if defined(__x86_64__) && defined(__ELF__) && (defined(__GNUC__) || defined(__clang__))
#define ATLAS_KERNEL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ATLAS_KERNEL_CLONES
#endif
// Inlined into every clone of its callers, so that it is compiled for each clone's target.
#define ATLAS_KERNEL_INLINE [[gnu::always_inline]] inline

namespace atlas_python {
namespace {

using FloatIn = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;  // any shape
using DoubleOut = nb::ndarray<double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using DoubleIn = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

enum class Saturation : std::uint8_t { kNone = 0, kTanh = 1, kSigmoid = 2 };

// Float accumulation is exact for counts and accurate for sums over short series only, so the
// kernels add at most a few thousand values per float lane before folding into doubles.
constexpr std::size_t kLanes = 8;
constexpr std::size_t kChunk = 4096;    // values per lane between folds (TensorStats, ...)
constexpr std::size_t kRowChunk = 512;  // rows per fold of AccumulateRows (units last)
constexpr float kSparseEps = 1e-8F;

// kLanes floats (or int32 counts) as GCC/Clang vector types: the compiler emits one vector
// instruction per operation on any target (two SSE2 or NEON registers, or one AVX2 register),
// instead of relying on the auto-vectoriser, which left these loops scalar at -O3. Vectors are
// only passed by reference (by value they would change the ABI between the clones). Their
// alignment is lowered to that of their element: they are loaded from and stored to arbitrary
// float and double arrays.
using Vec = float __attribute__((vector_size(kLanes * sizeof(float)), aligned(alignof(float))));
using Mask =
    std::int32_t __attribute__((vector_size(kLanes * sizeof(float)), aligned(alignof(float))));
using Wide = double __attribute__((vector_size(kLanes * sizeof(double)), aligned(alignof(double))));

constexpr std::int32_t kAbsBits = 0x7fffffff;  // every bit of a float but its sign
constexpr std::int32_t kOneBits = 0x3f800000;  // the bits of 1.0F

// One series' statistics, lane by lane: lane j adds values j, j + kLanes, ... of the series
// (no addition is reordered within a lane). Counts are int32 lanes that subtract comparison
// masks (-1 where true): exact, and one instruction per count.
struct Run {
  Vec sum{};
  Vec abs{};
  Vec squares{};
  Mask active{};
  Mask saturated{};
};

// Adds the vector v to the run. `valid` is all ones except in the padding lanes of a series'
// last, partial vector, whose values are zeros: zeros add nothing to the sums, squares and
// active counts, and are below Tanh's saturation bound, but Sigmoid's saturation test counts
// them, so the mask applies there.
template <Saturation kSat>
ATLAS_KERNEL_INLINE void AddVector(const Vec& v, const Mask& valid, Run& run) {
  const Vec a = __builtin_bit_cast(Vec, __builtin_bit_cast(Mask, v) & kAbsBits);
  const Vec zero{};
  run.sum += v;
  run.abs += a;
  run.squares += v * v;
  run.active -= v > zero;
  if constexpr (kSat == Saturation::kTanh) {
    run.saturated -= a > zero + 0.99F;
  } else if constexpr (kSat == Saturation::kSigmoid) {
    run.saturated -= ((v < zero + 0.01F) | (v > zero + 0.99F)) & valid;
  }
}

// The valid lanes of a partial vector of `count` values (count < kLanes).
ATLAS_KERNEL_INLINE void ValidLanes(std::size_t count, Mask& valid) {
  const Mask index{0, 1, 2, 3, 4, 5, 6, 7};
  valid = index < (Mask{} + static_cast<std::int32_t>(count));
}

// x[0 .. count) (count < kLanes) followed by zeros.
ATLAS_KERNEL_INLINE void LoadPartial(const float* x, std::size_t count, Vec& v) {
  v = Vec{};
  std::memcpy(&v, x, count * sizeof(float));
}

// The run of the series x[0 .. n): its full vectors, then its partial last one.
template <Saturation kSat>
ATLAS_KERNEL_INLINE void AddSeries(const float* x, std::size_t n, Run& run) {
  const Mask all = Mask{} - 1;
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Vec v;
    std::memcpy(&v, x + i, sizeof(v));
    AddVector<kSat>(v, all, run);
  }
  if (i < n) {
    Vec v;
    Mask valid;
    LoadPartial(x + i, n - i, v);
    ValidLanes(n - i, valid);
    AddVector<kSat>(v, valid, run);
  }
}

// A vector in a struct, so that arrays of them are std::arrays (a vector type as a template
// argument would lose its attributes).
struct Slot {
  Vec v;
};
using Vecs = std::array<Slot, kLanes>;

// The lanes of r[0] .. r[7] added pairwise into one vector: lane j is the total of r[j]'s lanes.
// Three rounds of shuffles and adds (8 -> 4 -> 2 -> 1 vectors) instead of eight sequential
// horizontal sums.
ATLAS_KERNEL_INLINE void LaneTotals(const Vecs& r, Vec& out) {
  std::array<Slot, 4> pairs{};
  for (std::size_t k = 0; k < 4; ++k) {
    const Vec& a = r[2 * k].v;
    const Vec& b = r[(2 * k) + 1].v;
    pairs[k].v = __builtin_shufflevector(a, b, 0, 8, 2, 10, 4, 12, 6, 14) +
                 __builtin_shufflevector(a, b, 1, 9, 3, 11, 5, 13, 7, 15);
  }
  std::array<Slot, 2> quads{};
  for (std::size_t k = 0; k < 2; ++k) {
    const Vec& a = pairs[2 * k].v;
    const Vec& b = pairs[(2 * k) + 1].v;
    quads[k].v = __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13) +
                 __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15);
  }
  out = __builtin_shufflevector(quads[0].v, quads[1].v, 0, 1, 2, 3, 8, 9, 10, 11) +
        __builtin_shufflevector(quads[0].v, quads[1].v, 4, 5, 6, 7, 12, 13, 14, 15);
}

ATLAS_KERNEL_INLINE float LaneTotal(const Vec& lanes) {
  float total = 0.0F;
  for (std::size_t j = 0; j < kLanes; ++j) total += lanes[j];
  return total;
}

// The layout of AccumulateUnits' accumulator: four per-unit blocks, then two scalars.
enum Block : std::size_t { kSum = 0, kAbs = 1, kActive = 2, kSaturated = 3 };

// Adds the first `count` lanes of `values` (one per unit) to acc[first ..], in double.
ATLAS_KERNEL_INLINE void FoldLanes(const Vec& values, std::size_t count, double* acc) {
  const Wide wide = __builtin_convertvector(values, Wide);
  if (count == kLanes) {
    Wide total;
    std::memcpy(&total, acc, sizeof(total));
    total += wide;
    std::memcpy(acc, &total, sizeof(total));
  } else {
    for (std::size_t j = 0; j < count; ++j) acc[j] += wide[j];
  }
}

// Per-unit statistics of kLanes units at once (unit first + j in lane j), folded into the
// accumulator's double blocks; their squares go to `squares` (lane by lane, in double).
struct UnitLanes {
  Vec sum{};
  Vec abs{};
  Vec squares{};
  Vec active{};
  Vec saturated{};
};

ATLAS_KERNEL_INLINE void FoldUnits(const UnitLanes& lanes, std::size_t first, std::size_t count,
                                   std::size_t units, double* acc, Wide& squares) {
  FoldLanes(lanes.sum, count, acc + (kSum * units) + first);
  FoldLanes(lanes.abs, count, acc + (kAbs * units) + first);
  FoldLanes(lanes.active, count, acc + (kActive * units) + first);
  FoldLanes(lanes.saturated, count, acc + (kSaturated * units) + first);
  squares += __builtin_convertvector(lanes.squares, Wide);
}

// The pieces x[unit * inner .. unit * inner + piece) of every unit of one row (AccumulateRuns).
template <Saturation kSat>
ATLAS_KERNEL_INLINE void AccumulatePieces(const float* base, std::size_t units, std::size_t inner,
                                          std::size_t piece, double* acc, Wide& squares) {
  for (std::size_t first = 0; first < units; first += kLanes) {
    const std::size_t count = std::min(kLanes, units - first);
    // Not zero-initialised (clearing them costs as much as a short series): lanes past `count`
    // are cleared below, in a partial block only.
    Vecs sum;
    Vecs abs;
    Vecs sq;
    Vecs active;
    Vecs saturated;
    for (std::size_t j = count; j < kLanes; ++j) {
      sum[j].v = abs[j].v = sq[j].v = active[j].v = saturated[j].v = Vec{};
    }
    for (std::size_t j = 0; j < count; ++j) {
      Run run;
      AddSeries<kSat>(base + ((first + j) * inner), piece, run);
      sum[j].v = run.sum;
      abs[j].v = run.abs;
      sq[j].v = run.squares;
      active[j].v = __builtin_convertvector(run.active, Vec);
      saturated[j].v = __builtin_convertvector(run.saturated, Vec);
    }
    UnitLanes lanes;
    LaneTotals(sum, lanes.sum);
    LaneTotals(abs, lanes.abs);
    LaneTotals(sq, lanes.squares);
    LaneTotals(active, lanes.active);
    LaneTotals(saturated, lanes.saturated);
    FoldUnits(lanes, first, count, units, acc, squares);
  }
}

// x viewed as (outer, units, inner) with inner > 1: each (row, unit) is one contiguous series.
// Each series is reduced in float lanes from zero (so consecutive series are independent chains
// of additions that the CPU overlaps), the series of kLanes consecutive units are turned into
// per-unit totals by LaneTotals, and those are folded into the doubles: float accumulation
// never spans more than one series of `inner` values.
template <Saturation kSat>
ATLAS_KERNEL_INLINE double AccumulateRuns(const float* x, std::size_t outer, std::size_t units,
                                          std::size_t inner, double* acc) {
  Wide squares{};
  for (std::size_t row = 0; row < outer; ++row) {
    // A series longer than kChunk is taken in pieces of kChunk values, each folded alone.
    for (std::size_t offset = 0; offset < inner; offset += kChunk) {
      const std::size_t piece = std::min(kChunk, inner - offset);
      AccumulatePieces<kSat>(x + (row * units * inner) + offset, units, inner, piece, acc, squares);
    }
  }
  double total = 0.0;
  for (std::size_t j = 0; j < kLanes; ++j) total += squares[j];
  return total;
}

// The runs of kLanes units first .. first + count down rows begin .. end of x viewed as
// (outer, units): lane j is unit first + j. A full block alternates rows between `run` and
// `other` (two independent chains of additions); a partial one adds every row to `run`.
template <Saturation kSat>
ATLAS_KERNEL_INLINE void AddColumns(const float* x, std::size_t units, std::size_t begin,
                                    std::size_t end, std::size_t first, std::size_t count, Run& run,
                                    Run& other) {
  if (count == kLanes) {
    const Mask all = Mask{} - 1;
    std::size_t row = begin;
    for (; row + 2 <= end; row += 2) {
      Vec a;
      Vec b;
      std::memcpy(&a, x + (row * units) + first, sizeof(a));
      std::memcpy(&b, x + ((row + 1) * units) + first, sizeof(b));
      AddVector<kSat>(a, all, run);
      AddVector<kSat>(b, all, other);
    }
    if (row < end) {
      Vec v;
      std::memcpy(&v, x + (row * units) + first, sizeof(v));
      AddVector<kSat>(v, all, run);
    }
  } else {
    Mask valid;
    ValidLanes(count, valid);
    for (std::size_t row = begin; row < end; ++row) {
      Vec v;
      LoadPartial(x + (row * units) + first, count, v);
      AddVector<kSat>(v, valid, run);
    }
  }
}

// Folds a run whose lane j is unit first + j (AccumulateRows) into the accumulator.
ATLAS_KERNEL_INLINE void FoldRun(const Run& run, std::size_t first, std::size_t count,
                                 std::size_t units, double* acc, Wide& squares) {
  UnitLanes lanes;
  lanes.sum = run.sum;
  lanes.abs = run.abs;
  lanes.squares = run.squares;
  lanes.active = __builtin_convertvector(run.active, Vec);
  lanes.saturated = __builtin_convertvector(run.saturated, Vec);
  FoldUnits(lanes, first, count, units, acc, squares);
}

// x viewed as (outer, units) (units last): lane j of the block of units first .. first + kLanes
// is unit first + j, so each row adds one vector per block and no lanes need adding up. Two
// blocks go down the rows together (two independent chains of additions; a last single block
// alternates rows between two runs instead), in chunks of kRowChunk rows folded into the
// doubles.
template <Saturation kSat>
ATLAS_KERNEL_INLINE double AccumulateRows(const float* x, std::size_t outer, std::size_t units,
                                          double* acc) {
  Wide squares{};
  for (std::size_t begin = 0; begin < outer; begin += kRowChunk) {
    const std::size_t end = std::min(outer, begin + kRowChunk);
    std::size_t first = 0;
    for (; first + (2 * kLanes) <= units; first += 2 * kLanes) {
      Run left;
      Run right;
      const Mask all = Mask{} - 1;
      for (std::size_t row = begin; row < end; ++row) {
        Vec a;
        Vec b;
        std::memcpy(&a, x + (row * units) + first, sizeof(a));
        std::memcpy(&b, x + (row * units) + first + kLanes, sizeof(b));
        AddVector<kSat>(a, all, left);
        AddVector<kSat>(b, all, right);
      }
      FoldRun(left, first, kLanes, units, acc, squares);
      FoldRun(right, first + kLanes, kLanes, units, acc, squares);
    }
    for (; first < units; first += kLanes) {
      const std::size_t count = std::min(kLanes, units - first);
      Run run;
      Run other;
      AddColumns<kSat>(x, units, begin, end, first, count, run, other);
      FoldRun(run, first, count, units, acc, squares);
      FoldRun(other, first, count, units, acc, squares);
    }
  }
  double total = 0.0;
  for (std::size_t j = 0; j < kLanes; ++j) total += squares[j];
  return total;
}

ATLAS_KERNEL_INLINE double CountNonFinite(const float* x, std::size_t n) {
  double count = 0.0;
  for (std::size_t i = 0; i < n; ++i) count += std::isfinite(x[i]) ? 0.0 : 1.0;
  return count;
}

template <Saturation kSat>
ATLAS_KERNEL_INLINE void AccumulateUnitsAs(const float* x, std::size_t n, std::size_t units,
                                           std::size_t inner, double* acc) {
  const std::size_t outer = n / (units * inner);
  const double squares = inner == 1 ? AccumulateRows<kSat>(x, outer, units, acc)
                                    : AccumulateRuns<kSat>(x, outer, units, inner, acc);
  acc[4 * units] += squares;
  // The sum of squares is finite exactly when every value is: the counting pass runs only then.
  acc[(4 * units) + 1] += std::isfinite(squares) ? 0.0 : CountNonFinite(x, n);
}

// AccumulateUnits' pass, for the saturation code's variant.
ATLAS_KERNEL_CLONES void AccumulateUnitsKernel(const float* x, std::size_t n, std::size_t units,
                                               std::size_t inner, int saturation, double* out) {
  switch (static_cast<Saturation>(saturation)) {
    case Saturation::kTanh:
      AccumulateUnitsAs<Saturation::kTanh>(x, n, units, inner, out);
      break;
    case Saturation::kSigmoid:
      AccumulateUnitsAs<Saturation::kSigmoid>(x, n, units, inner, out);
      break;
    default:
      AccumulateUnitsAs<Saturation::kNone>(x, n, units, inner, out);
      break;
  }
}

// Adds one activation's statistics to `acc` (see layer_health.py, _accumulate_host).
void AccumulateUnits(const FloatIn& a, std::size_t units, std::size_t inner, int saturation,
                     DoubleOut& acc) {
  const std::size_t n = a.size();
  if (units == 0 || inner == 0 || n % (units * inner) != 0) {
    throw nb::value_error("accumulate_units: size is not a multiple of units * inner");
  }
  if (acc.shape(0) != (4 * units) + 2) {
    throw nb::value_error("accumulate_units: the accumulator must hold 4 * units + 2 values");
  }
  const nb::gil_scoped_release release;
  AccumulateUnitsKernel(a.data(), n, units, inner, saturation, acc.data());
}

// [sum of squares, sum of |x|, count of |x| < 1e-8, non-finite count] of one tensor; with
// kCopy, x is also copied to `copy` in the same pass (the weight copy for the update ratio).
template <bool kCopy>
ATLAS_KERNEL_INLINE std::array<double, 4> TensorStatsAs(const float* x, std::size_t n,
                                                        float* copy) {
  std::array<double, 4> out{};
  for (std::size_t start = 0; start < n; start += kChunk) {
    const std::size_t end = std::min(n, start + kChunk);
    Vec squares{};
    Vec abs{};
    Vec small{};
    const Vec eps = Vec{} + kSparseEps;
    std::size_t i = start;
    for (; i + kLanes <= end; i += kLanes) {
      Vec v;
      std::memcpy(&v, x + i, sizeof(v));
      if constexpr (kCopy) std::memcpy(copy + i, &v, sizeof(v));
      const Vec a = __builtin_bit_cast(Vec, __builtin_bit_cast(Mask, v) & kAbsBits);
      squares += v * v;
      abs += a;
      small += __builtin_bit_cast(Vec, (a < eps) & kOneBits);
    }
    for (std::size_t j = 0; i < end; ++i, ++j) {
      const float v = x[i];
      if constexpr (kCopy) copy[i] = v;
      squares[j] += v * v;
      abs[j] += std::fabs(v);
      small[j] += std::fabs(v) < kSparseEps ? 1.0F : 0.0F;
    }
    for (std::size_t j = 0; j < kLanes; ++j) {
      out[0] += squares[j];
      out[1] += abs[j];
      out[2] += small[j];
    }
  }
  out[3] = std::isfinite(out[0]) ? 0.0 : CountNonFinite(x, n);
  return out;
}

ATLAS_KERNEL_CLONES std::array<double, 4> TensorStats(const float* x, std::size_t n, float* copy) {
  return copy == nullptr ? TensorStatsAs<false>(x, n, nullptr) : TensorStatsAs<true>(x, n, copy);
}

using FloatOut = nb::ndarray<float, nb::c_contig, nb::device::cpu>;  // any shape

// TensorStats of each tensor, into out[4 * i .. 4 * i + 3]. `copies` is empty, or has one entry
// per tensor: None, or an array of the tensor's size that receives its values.
void TensorsStats(const std::vector<FloatIn>& tensors, DoubleOut& out,
                  const std::vector<std::optional<FloatOut>>& copies) {
  if (out.shape(0) != 4 * tensors.size()) {
    throw nb::value_error("tensor_stats: out must hold 4 values per tensor");
  }
  if (!copies.empty() && copies.size() != tensors.size()) {
    throw nb::value_error("tensor_stats: copies must be empty or have one entry per tensor");
  }
  for (std::size_t t = 0; t < copies.size(); ++t) {
    if (copies[t] && copies[t]->size() != tensors[t].size()) {
      throw nb::value_error("tensor_stats: a copy differs in size from its tensor");
    }
  }
  const nb::gil_scoped_release release;
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    float* copy = t < copies.size() && copies[t] ? copies[t]->data() : nullptr;
    const std::array<double, 4> stats = TensorStats(tensors[t].data(), tensors[t].size(), copy);
    std::copy(stats.begin(), stats.end(), out.data() + (4 * t));
  }
}

// ||x - y||^2 of two float32 arrays of n values.
ATLAS_KERNEL_CLONES double SquaredDistance(const float* x, const float* y, std::size_t n) {
  double total = 0.0;
  for (std::size_t start = 0; start < n; start += kChunk) {
    const std::size_t end = std::min(n, start + kChunk);
    Vec lanes{};
    std::size_t i = start;
    for (; i + kLanes <= end; i += kLanes) {
      Vec a;
      Vec b;
      std::memcpy(&a, x + i, sizeof(a));
      std::memcpy(&b, y + i, sizeof(b));
      const Vec d = a - b;
      lanes += d * d;
    }
    for (std::size_t j = 0; i < end; ++i, ++j) {
      const float d = x[i] - y[i];
      lanes[j] += d * d;
    }
    total += LaneTotal(lanes);
  }
  return total;
}

// ||a_i - b_i||^2 of each pair, into out[i]: the update of each parameter, without a temporary.
void SquaredDistances(const std::vector<FloatIn>& a, const std::vector<FloatIn>& b,
                      DoubleOut& out) {
  if (a.size() != b.size() || out.shape(0) != a.size()) {
    throw nb::value_error("squared_distances: a, b and out must have one entry per pair");
  }
  for (std::size_t t = 0; t < a.size(); ++t) {
    if (a[t].size() != b[t].size()) {
      throw nb::value_error("squared_distances: the tensors of a pair differ in size");
    }
  }
  const nb::gil_scoped_release release;
  for (std::size_t t = 0; t < a.size(); ++t) {
    out.data()[t] = SquaredDistance(a[t].data(), b[t].data(), a[t].size());
  }
}

// ----- the gradient noise scale's window (gradient_noise.py, CPU) -----

// sum += weight * g (sum = weight * g when `reset`), and returns ||g||^2: one pass over the
// gradient and its window sum instead of a norm and an add per tensor.
ATLAS_KERNEL_CLONES double AddScaledSquared(const float* g, float* sum, std::size_t n, float weight,
                                            bool reset) {
  double total = 0.0;
  const Vec scale = Vec{} + weight;
  for (std::size_t start = 0; start < n; start += kChunk) {
    const std::size_t end = std::min(n, start + kChunk);
    Vec lanes{};
    std::size_t i = start;
    for (; i + kLanes <= end; i += kLanes) {
      Vec v;
      Vec s{};
      std::memcpy(&v, g + i, sizeof(v));
      if (!reset) std::memcpy(&s, sum + i, sizeof(s));
      s += scale * v;
      std::memcpy(sum + i, &s, sizeof(s));
      lanes += v * v;
    }
    for (std::size_t j = 0; i < end; ++i, ++j) {
      const float v = g[i];
      sum[i] = (reset ? 0.0F : sum[i]) + weight * v;
      lanes[j] += v * v;
    }
    total += LaneTotal(lanes);
  }
  return total;
}

// One step of a gradient-noise window: adds weight * grads[i] into sums[i] (starting it where
// reset[i]; reset may be empty: no sum starts) and returns the sum of the ||grads[i]||^2.
double NoiseAccumulate(const std::vector<FloatIn>& grads, std::vector<FloatOut>& sums,
                       double weight, const std::vector<bool>& reset) {
  if (grads.size() != sums.size() || (!reset.empty() && reset.size() != grads.size())) {
    throw nb::value_error("noise_accumulate: grads, sums (and reset) must have one entry each");
  }
  for (std::size_t t = 0; t < grads.size(); ++t) {
    if (grads[t].size() != sums[t].size()) {
      throw nb::value_error("noise_accumulate: a gradient differs in size from its sum");
    }
  }
  const nb::gil_scoped_release release;
  double total = 0.0;
  const auto scale = static_cast<float>(weight);
  for (std::size_t t = 0; t < grads.size(); ++t) {
    const bool start = !reset.empty() && reset[t];
    total += AddScaledSquared(grads[t].data(), sums[t].data(), grads[t].size(), scale, start);
  }
  return total;
}

// ----- layer_stats JSON -----

// Exact decimals of at most this many significant digits: AppendExactDecimal's domain.
constexpr std::uint64_t kExactDigitsLimit = 1'000'000'000'000'000;  // 10^15
constexpr int kMaxFractionBits = 27;                                // 5^27 < 2^63

// 5^k for k = 0 .. kMaxFractionBits.
constexpr std::array<std::uint64_t, kMaxFractionBits + 1> kPowersOfFive = [] {
  std::array<std::uint64_t, kMaxFractionBits + 1> powers{};
  std::uint64_t power = 1;
  for (auto& p : powers) {
    p = power;
    power *= 5;
  }
  return powers;
}();

// Writes a finite, non-zero |value| that is an exact decimal of at most 15 significant digits:
// an integer below 10^15, or m / 2^k (m odd, k <= 27), which is m * 5^k / 10^k. Per-unit
// fractions (count / rows) are of this kind when rows is a power of two, as with the usual batch
// sizes. Such a value's own digits are its shortest round-trip form (any decimal of fewer digits
// is at least 10^-15 of it away, more than half a double's ulp), so the text is what
// std::to_chars writes, found without its general search: the same digits, and like it the
// shorter of the fixed and scientific forms (fixed on a tie). Returns false, writing nothing,
// for any other value.
bool AppendExactDecimal(std::string& out, double magnitude) {
  int exponent = 0;
  const double fraction = std::frexp(magnitude, &exponent);  // magnitude = fraction * 2^exponent
  auto mantissa = static_cast<std::uint64_t>(std::ldexp(fraction, 53));
  int shift = exponent - 53;  // magnitude = mantissa * 2^shift
  const int zeros = std::countr_zero(mantissa);
  mantissa >>= zeros;
  shift += zeros;
  std::uint64_t digits_value = 0;  // magnitude = digits_value * 10^-places
  int places = 0;
  if (shift >= 0) {
    if (shift > 50 || mantissa >= (kExactDigitsLimit >> std::min(shift, 50))) return false;
    digits_value = mantissa << shift;
  } else {
    places = -shift;
    if (places > kMaxFractionBits ||
        mantissa >= kExactDigitsLimit / kPowersOfFive[static_cast<std::size_t>(places)]) {
      return false;
    }
    digits_value = mantissa * kPowersOfFive[static_cast<std::size_t>(places)];
  }
  std::array<char, 24> digits{};
  const auto written = std::to_chars(digits.data(), digits.data() + digits.size(), digits_value);
  const auto count = static_cast<int>(written.ptr - digits.data());
  int significant = count;  // without trailing zeros (only an integer has any)
  while (significant > 1 && digits[static_cast<std::size_t>(significant) - 1] == '0') {
    --significant;
  }
  const int decimal_exponent = count - 1 - places;  // of the leading digit
  const int fixed_length = places == 0 ? count : (count > places ? count + 1 : places + 2);
  const int exponent_digits = std::abs(decimal_exponent) >= 100 ? 3 : 2;
  const int scientific_length = significant + (significant > 1 ? 1 : 0) + 2 + exponent_digits;
  const std::string_view text(digits.data(), static_cast<std::size_t>(count));
  if (fixed_length <= scientific_length) {
    if (places == 0) {
      out += text;
    } else if (count > places) {
      out += text.substr(0, static_cast<std::size_t>(count - places));
      out += '.';
      out += text.substr(static_cast<std::size_t>(count - places));
    } else {
      out += "0.";
      out.append(static_cast<std::size_t>(places - count), '0');
      out += text;
    }
  } else {
    out += text[0];
    if (significant > 1) {
      out += '.';
      out += text.substr(1, static_cast<std::size_t>(significant) - 1);
    }
    std::array<char, 8> tail{};
    const int length = std::snprintf(tail.data(), tail.size(), "e%c%02d",
                                     decimal_exponent < 0 ? '-' : '+', std::abs(decimal_exponent));
    out.append(tail.data(), static_cast<std::size_t>(length));
  }
  return true;
}

void AppendNumber(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "\"NaN\"";
  } else if (std::isinf(value)) {
    out += value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else if (value == 0.0) {
    out += std::signbit(value) ? "-0" : "0";
  } else {
    const std::size_t size = out.size();
    if (value < 0) out += '-';
    if (AppendExactDecimal(out, std::fabs(value))) return;
    out.resize(size);
    std::array<char, 32> buffer{};
    const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    out.append(buffer.data(), result.ptr);
  }
}

void AppendString(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      std::array<char, 8> escape{};
      std::snprintf(escape.data(), escape.size(), "\\u%04x", static_cast<unsigned>(c));
      out += escape.data();
    } else {
      out += c;
    }
  }
  out += '"';
}

using Scalars = std::vector<std::tuple<std::string, double>>;
using Arrays = std::vector<std::tuple<std::string, DoubleIn, double>>;
using LayerEntry = std::tuple<std::string, Scalars, Scalars, Arrays>;

void AppendFields(std::string& out, const Scalars& scalars) {
  for (const auto& [key, value] : scalars) {
    out += ',';
    AppendString(out, key);
    out += ':';
    AppendNumber(out, value);
  }
}

void AppendEntry(std::string& out, const LayerEntry& entry) {
  const auto& [name, scalars, extra, arrays] = entry;
  out += "{\"layer\":";
  AppendString(out, name);
  AppendFields(out, scalars);
  if (!extra.empty() || !arrays.empty()) {
    out += ",\"extra\":{";
    std::string fields;
    AppendFields(fields, extra);
    for (const auto& [key, values, scale] : arrays) {
      fields += ',';
      AppendString(fields, key);
      fields += ":[";
      for (std::size_t i = 0; i < values.shape(0); ++i) {
        if (i > 0) fields += ',';
        AppendNumber(fields, values.data()[i] * scale);
      }
      fields += ']';
    }
    out.append(fields, fields.empty() ? 0 : 1);  // without the leading comma
    out += '}';
  }
  out += '}';
}

// The text of a layer_stats record: {"step", "ts", "epoch"?, "layers": [entries]}. Entries are
// (name, fields, extra fields, extra arrays as (key, values, scale): each value is written times
// scale, which turns per-unit counts into fractions without a pass in Python); non-finite
// numbers become the protocol's strings.
std::string LayerStatsJson(std::int64_t step, std::optional<std::int64_t> epoch, double ts,
                           const std::vector<LayerEntry>& layers) {
  std::string out = "{\"step\":" + std::to_string(step) + ",\"ts\":";
  AppendNumber(out, ts);
  if (epoch) out += ",\"epoch\":" + std::to_string(*epoch);
  out += ",\"layers\":[";
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (i > 0) out += ',';
    AppendEntry(out, layers[i]);
  }
  out += "]}";
  return out;
}

// ----- the CPU path's whole record -----

// One layer of a CPU sample: its name, its activation accumulator (AccumulateUnits' layout, or
// None when no output was seen), the rows (positions) and elements it summed, and whether it
// saturates (Tanh, Sigmoid).
using HostLayer =
    std::tuple<std::string, std::optional<DoubleIn>, std::int64_t, std::int64_t, bool>;
using Indices = std::vector<std::int64_t>;

// A layer's entry being built: fields, extra fields, and per-unit arrays (key, values, count,
// scale) pointing into the caller's accumulators.
struct HostEntry {
  Scalars fields;
  Scalars extra;
  std::vector<std::tuple<std::string_view, const double*, std::size_t, double>> arrays;
};

struct HostSettings {
  double dormant_threshold = 0.0;
  std::size_t max_units = 0;
};

// The activation figures of one layer from its accumulator (layer_health.py's module docstring
// defines them; the same arithmetic as its torch path, in the same order of additions).
void AddActivations(const HostLayer& layer, const HostSettings& settings, HostEntry& entry) {
  const auto& [name, acc, rows_i, elements_i, saturates] = layer;
  if (!acc || rows_i <= 0 || elements_i <= 0 || acc->shape(0) < 2) return;
  const double* a = acc->data();
  const std::size_t units = (acc->shape(0) - 2) / 4;
  const auto rows = static_cast<double>(rows_i);
  const auto elements = static_cast<double>(elements_i);
  double total = 0.0;
  double absolute = 0.0;
  double dead = 0.0;
  double saturated = 0.0;
  for (std::size_t u = 0; u < units; ++u) {
    total += a[(kSum * units) + u];
    absolute += a[(kAbs * units) + u];
    dead += a[(kActive * units) + u] == 0.0 ? 1.0 : 0.0;
    saturated += a[(kSaturated * units) + u];
  }
  const double n_units = static_cast<double>(units);
  const double mean_abs = units > 0 ? absolute / rows / n_units : 0.0;
  double dormant = 0.0;
  if (mean_abs > 0) {
    for (std::size_t u = 0; u < units; ++u) {
      dormant += a[(kAbs * units) + u] / rows / mean_abs <= settings.dormant_threshold ? 1.0 : 0.0;
    }
  } else {
    dormant = settings.dormant_threshold >= 0 ? n_units : 0.0;
  }
  const double squares = a[4 * units];
  const double mean = total / elements;
  entry.fields.emplace_back("activation_mean", mean);
  entry.fields.emplace_back("activation_std",
                            std::sqrt(std::max((squares / elements) - (mean * mean), 0.0)));
  entry.fields.emplace_back("activation_abs_mean", absolute / elements);
  entry.fields.emplace_back("nonfinite_activations", a[(4 * units) + 1]);
  if (saturates) entry.fields.emplace_back("saturated_fraction", saturated / elements);
  entry.fields.emplace_back("dead_fraction", units > 0 ? dead / n_units : 0.0);
  entry.extra.emplace_back("dormant_fraction", units > 0 ? dormant / n_units : 0.0);
  entry.extra.emplace_back("dormant_threshold", settings.dormant_threshold);
  entry.extra.emplace_back("units", n_units);
  const std::size_t shipped = std::min(units, settings.max_units);
  entry.arrays.emplace_back("unit_active_frac", a + (kActive * units), shipped, 1.0 / rows);
  entry.arrays.emplace_back("unit_score", a + (kAbs * units), shipped,
                            mean_abs > 0 ? 1.0 / rows / mean_abs : 0.0);
  if (saturates) {
    entry.arrays.emplace_back("unit_saturated_frac", a + (kSaturated * units), shipped, 1.0 / rows);
  }
}

// Per-layer sums of the parameters' statistics (TensorStats' four values per tensor).
struct ParamSums {
  std::vector<double> weight_sq, weight_abs, weight_small, weight_bad, weight_n;
  std::vector<double> grad_sq, grad_abs, grad_bad, grad_n;
  std::vector<double> update_sq;
  std::vector<bool> updated;

  explicit ParamSums(std::size_t layers)
      : weight_sq(layers),
        weight_abs(layers),
        weight_small(layers),
        weight_bad(layers),
        weight_n(layers),
        grad_sq(layers),
        grad_abs(layers),
        grad_bad(layers),
        grad_n(layers),
        update_sq(layers),
        updated(layers) {}
};

// The layer of `param` (an index into param_layer), checked.
std::size_t LayerOf(const Indices& param_layer, std::int64_t param, std::size_t layers) {
  if (param < 0 || static_cast<std::size_t>(param) >= param_layer.size()) {
    throw nb::value_error("host_layer_stats_json: a parameter index is out of range");
  }
  const std::int64_t layer = param_layer[static_cast<std::size_t>(param)];
  if (layer < 0 || static_cast<std::size_t>(layer) >= layers) {
    throw nb::value_error("host_layer_stats_json: a layer index is out of range");
  }
  return static_cast<std::size_t>(layer);
}

// The parameter figures of one layer from the layers' sums.
void AddParams(std::size_t layer, const ParamSums& p, HostEntry& entry) {
  if (p.weight_n[layer] > 0) {
    entry.fields.emplace_back("weight_norm", std::sqrt(p.weight_sq[layer]));
    entry.fields.emplace_back("weight_abs_mean", p.weight_abs[layer] / p.weight_n[layer]);
    entry.fields.emplace_back("weight_sparsity", p.weight_small[layer] / p.weight_n[layer]);
    entry.fields.emplace_back("nonfinite_weights", p.weight_bad[layer]);
    if (p.updated[layer] && p.weight_sq[layer] > 0) {
      entry.fields.emplace_back("update_ratio", std::sqrt(p.update_sq[layer] / p.weight_sq[layer]));
    }
  }
  if (p.grad_n[layer] > 0) {
    entry.fields.emplace_back("grad_norm", std::sqrt(p.grad_sq[layer]));
    entry.fields.emplace_back("grad_abs_mean", p.grad_abs[layer] / p.grad_n[layer]);
    entry.fields.emplace_back("nonfinite_grads", p.grad_bad[layer]);
  }
}

// Sums the parameters' TensorStats rows (4 values per tensor: weights, gradients) and squared
// updates into their layers' sums.
ParamSums SumParams(std::size_t layers, const Indices& param_layer, const Indices& param_size,
                    const DoubleIn& weight_stats, const Indices& grad_param,
                    const DoubleIn& grad_stats, const Indices& update_param,
                    const DoubleIn& update_sq) {
  if (param_size.size() != param_layer.size() || weight_stats.shape(0) != 4 * param_layer.size() ||
      grad_stats.shape(0) != 4 * grad_param.size() || update_sq.shape(0) != update_param.size()) {
    throw nb::value_error("host_layer_stats_json: parameter statistics of the wrong size");
  }
  ParamSums p(layers);
  for (std::size_t i = 0; i < param_layer.size(); ++i) {
    const std::size_t layer = LayerOf(param_layer, static_cast<std::int64_t>(i), layers);
    const double* w = weight_stats.data() + (4 * i);
    p.weight_sq[layer] += w[0];
    p.weight_abs[layer] += w[1];
    p.weight_small[layer] += w[2];
    p.weight_bad[layer] += w[3];
    p.weight_n[layer] += static_cast<double>(param_size[i]);
  }
  for (std::size_t i = 0; i < update_param.size(); ++i) {
    const std::size_t layer = LayerOf(param_layer, update_param[i], layers);
    p.update_sq[layer] += update_sq.data()[i];
    p.updated[layer] = true;
  }
  for (std::size_t i = 0; i < grad_param.size(); ++i) {
    const std::size_t layer = LayerOf(param_layer, grad_param[i], layers);
    const double* g = grad_stats.data() + (4 * i);
    p.grad_sq[layer] += g[0];
    p.grad_abs[layer] += g[1];
    p.grad_bad[layer] += g[3];
    p.grad_n[layer] += static_cast<double>(param_size[static_cast<std::size_t>(grad_param[i])]);
  }
  return p;
}

void AppendHostEntry(std::string& out, std::string_view name, const HostEntry& entry) {
  out += "{\"layer\":";
  AppendString(out, name);
  AppendFields(out, entry.fields);
  if (!entry.extra.empty() || !entry.arrays.empty()) {
    out += ",\"extra\":{";
    const std::size_t open = out.size();
    AppendFields(out, entry.extra);
    for (const auto& [key, values, count, scale] : entry.arrays) {
      out += ',';
      AppendString(out, key);
      out += ":[";
      for (std::size_t i = 0; i < count; ++i) {
        if (i > 0) out += ',';
        AppendNumber(out, values[i] * scale);
      }
      out += ']';
    }
    out.erase(open, 1);  // the first field's leading comma (there is at least one field)
    out += '}';
  }
  out += '}';
}

// About how many bytes the record of `entries` takes (the output's reservation).
std::size_t RecordSizeHint(const std::vector<HostEntry>& entries) {
  constexpr std::size_t kBytesPerField = 48;
  constexpr std::size_t kBytesPerValue = 24;
  std::size_t size = 256;
  for (const HostEntry& entry : entries) {
    size += (entry.fields.size() + entry.extra.size() + entry.arrays.size() + 1) * kBytesPerField;
    for (const auto& array : entry.arrays) size += std::get<2>(array) * kBytesPerValue;
  }
  return size;
}

// The JSON text of a CPU sample's layer_stats record, from the float64 accumulators and tensor
// statistics the kernels above filled: every layer-wide figure is derived here, so a sample
// costs Python no per-layer or per-unit work. `root_extra` goes into the root entry's extra
// (layer ""), which is put first when no layer is the root.
std::string HostLayerStatsJson(std::int64_t step, std::optional<std::int64_t> epoch, double ts,
                               const std::vector<HostLayer>& layers, const Indices& param_layer,
                               const Indices& param_size, const DoubleIn& weight_stats,
                               const Indices& grad_param, const DoubleIn& grad_stats,
                               const Indices& update_param, const DoubleIn& update_sq,
                               double dormant_threshold, std::int64_t max_units,
                               const Scalars& root_extra) {
  const HostSettings settings{dormant_threshold,
                              static_cast<std::size_t>(std::max<std::int64_t>(0, max_units))};
  const ParamSums sums = SumParams(layers.size(), param_layer, param_size, weight_stats, grad_param,
                                   grad_stats, update_param, update_sq);
  std::vector<HostEntry> entries(layers.size());
  bool has_root = false;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    AddActivations(layers[i], settings, entries[i]);
    AddParams(i, sums, entries[i]);
    if (std::get<0>(layers[i]).empty()) {
      has_root = true;
      entries[i].extra.insert(entries[i].extra.end(), root_extra.begin(), root_extra.end());
    }
  }
  std::string out;
  out.reserve(RecordSizeHint(entries));
  out += "{\"step\":" + std::to_string(step) + ",\"ts\":";
  AppendNumber(out, ts);
  if (epoch) out += ",\"epoch\":" + std::to_string(*epoch);
  out += ",\"layers\":[";
  bool first = true;
  if (!has_root && !root_extra.empty()) {
    HostEntry root;
    root.extra = root_extra;
    AppendHostEntry(out, "", root);
    first = false;
  }
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const HostEntry& entry = entries[i];
    if (entry.fields.empty() && entry.extra.empty() && entry.arrays.empty()) continue;
    if (!first) out += ',';
    first = false;
    AppendHostEntry(out, std::get<0>(layers[i]), entry);
  }
  out += "]}";
  return out;
}

}  // namespace

// Outputs are noconvert: nanobind would otherwise hand the kernel a converted copy of an
// array of another dtype or layout (inputs may be converted: the copy is read instead), and the
// results would be written into the copy and lost. Such an output is a TypeError instead.
void BindLayerStats(nb::module_& m) {
  m.def("accumulate_units", &AccumulateUnits, nb::arg("a"), nb::arg("units"), nb::arg("inner"),
        nb::arg("saturation"), nb::arg("acc").noconvert(),
        "Adds one activation's per-unit sums to acc, in one pass (layer_health.py).");
  m.def("tensor_stats", &TensorsStats, nb::arg("tensors"), nb::arg("out").noconvert(),
        nb::arg("copies").noconvert() = std::vector<std::optional<FloatOut>>{},
        "[sum of squares, sum |x|, count |x| < 1e-8, non-finite count] of each tensor; copies:\n"
        "empty, or per tensor None or an array that receives a copy of it (same pass).");
  m.def("squared_distances", &SquaredDistances, nb::arg("a"), nb::arg("b"),
        nb::arg("out").noconvert(), "||a_i - b_i||^2 of each pair of tensors.");
  m.def("noise_accumulate", &NoiseAccumulate, nb::arg("grads"), nb::arg("sums").noconvert(),
        nb::arg("weight"), nb::arg("reset") = std::vector<bool>{},
        "Adds weight * grads[i] into sums[i] (set where reset[i]); returns sum ||grads[i]||^2.");
  m.def("layer_stats_json", &LayerStatsJson, nb::arg("step"), nb::arg("epoch"), nb::arg("ts"),
        nb::arg("layers"), "The JSON text of a layer_stats record.");
  m.def("host_layer_stats_json", &HostLayerStatsJson, nb::arg("step"), nb::arg("epoch"),
        nb::arg("ts"), nb::arg("layers"), nb::arg("param_layer"), nb::arg("param_size"),
        nb::arg("weight_stats"), nb::arg("grad_param"), nb::arg("grad_stats"),
        nb::arg("update_param"), nb::arg("update_sq"), nb::arg("dormant_threshold"),
        nb::arg("max_units"), nb::arg("root_extra"),
        "The JSON text of a CPU sample's layer_stats record, derived from its accumulators.");
}

}  // namespace atlas_python
