// Layer health's statistics kernels (atlas_observatory/layer_health.py's CPU fast path) and
// the layer_stats JSON writer, for atlas_observatory._atlas.
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

// Independent accumulators per lane let the compiler vectorise the loops without reordering any
// addition (which it may not do for floats); lanes are flushed into doubles every kChunk values
// so that float accumulation error stays small on long runs.
constexpr std::size_t kLanes = 8;
constexpr std::size_t kChunk = 4096;
constexpr float kSparseEps = 1e-8F;

template <Saturation kSat>
ATLAS_KERNEL_INLINE float SaturatedOne(float v) {
  if constexpr (kSat == Saturation::kTanh) {
    return std::fabs(v) > 0.99F ? 1.0F : 0.0F;
  } else if constexpr (kSat == Saturation::kSigmoid) {
    return (v < 0.01F || v > 0.99F) ? 1.0F : 0.0F;
  } else {
    return 0.0F;
  }
}

// kLanes float accumulators of each statistic, as GCC/Clang vector types: the compiler emits
// one vector instruction per operation on any target (two SSE2 or NEON registers, or one AVX2
// register), instead of relying on the auto-vectoriser, which left these loops scalar at -O3.
// Lane j only ever adds values j, j + kLanes, ...: no addition is reordered. Kernels copy one
// into a local variable, add to it and store it back: a local cannot alias the input, so the
// compiler keeps it in registers. Vectors are only passed by reference (by value they would
// change the ABI between the clones).
// Their alignment is lowered to that of a float: the lanes of many units live in a
// std::vector, whose memory need not be 32-byte aligned for the AVX2 clone's aligned moves.
using Vec = float __attribute__((vector_size(kLanes * sizeof(float)), aligned(alignof(float))));
using Mask =
    std::int32_t __attribute__((vector_size(kLanes * sizeof(float)), aligned(alignof(float))));

struct Lanes {
  Vec sum{};
  Vec abs{};
  Vec active{};
  Vec saturated{};
  Vec squares{};
};

constexpr std::int32_t kAbsBits = 0x7fffffff;  // every bit of a float but its sign
constexpr std::int32_t kOneBits = 0x3f800000;  // the bits of 1.0F

// Adds the kLanes values at x to the lanes.
template <Saturation kSat>
ATLAS_KERNEL_INLINE void AddVector(const float* x, Lanes& lanes) {
  Vec v;
  std::memcpy(&v, x, sizeof(v));
  const Vec a = __builtin_bit_cast(Vec, __builtin_bit_cast(Mask, v) & kAbsBits);
  const Vec zero{};
  lanes.sum += v;
  lanes.abs += a;
  lanes.active += __builtin_bit_cast(Vec, (v > zero) & kOneBits);
  if constexpr (kSat == Saturation::kTanh) {
    lanes.saturated += __builtin_bit_cast(Vec, (a > zero + 0.99F) & kOneBits);
  } else if constexpr (kSat == Saturation::kSigmoid) {
    lanes.saturated +=
        __builtin_bit_cast(Vec, ((v < zero + 0.01F) | (v > zero + 0.99F)) & kOneBits);
  }
  lanes.squares += v * v;
}

// Adds x[0 .. count) (count < kLanes) to lanes 0 .. count, one value at a time.
template <Saturation kSat>
ATLAS_KERNEL_INLINE void AddTail(const float* x, std::size_t count, Lanes& lanes) {
  for (std::size_t j = 0; j < count; ++j) {
    const float v = x[j];
    lanes.sum[j] += v;
    lanes.abs[j] += std::fabs(v);
    lanes.active[j] += v > 0.0F ? 1.0F : 0.0F;
    if constexpr (kSat != Saturation::kNone) lanes.saturated[j] += SaturatedOne<kSat>(v);
    lanes.squares[j] += v * v;
  }
}

ATLAS_KERNEL_INLINE float LaneTotal(const Vec& lanes) {
  float total = 0.0F;
  for (std::size_t j = 0; j < kLanes; ++j) total += lanes[j];
  return total;
}

// Adds the run x[0 .. count) to the lanes (lane j takes positions j, j + kLanes, ...). The full
// vectors go through a local copy that lives in registers (it is never indexed by a variable,
// which would put it on the stack); the tail goes to `lanes` itself, one value at a time.
template <Saturation kSat>
ATLAS_KERNEL_INLINE void AddRun(const float* x, std::size_t count, Lanes& lanes) {
  Lanes local = lanes;
  std::size_t i = 0;
  for (; i + kLanes <= count; i += kLanes) AddVector<kSat>(x + i, local);
  lanes = local;
  if (i < count) AddTail<kSat>(x + i, count - i, lanes);
}

// The layout of AccumulateUnits' accumulator: four per-unit blocks, then two scalars.
enum Block : std::size_t { kSum = 0, kAbs = 1, kActive = 2, kSaturated = 3 };

// Adds lanes 0 .. count of `lanes` to the per-unit sums of units first .. first + count.
ATLAS_KERNEL_INLINE void FlushUnits(const Lanes& lanes, std::size_t first, std::size_t count,
                                    std::size_t units, double* acc) {
  for (std::size_t j = 0; j < count; ++j) {
    acc[(kSum * units) + first + j] += lanes.sum[j];
    acc[(kAbs * units) + first + j] += lanes.abs[j];
    acc[(kActive * units) + first + j] += lanes.active[j];
    acc[(kSaturated * units) + first + j] += lanes.saturated[j];
  }
}

// x viewed as (outer, units, inner) with inner > 1: each (row, unit) is one contiguous run, and
// each unit has its own lanes, flushed into the doubles every ~kChunk of its values.
template <Saturation kSat>
ATLAS_KERNEL_INLINE double AccumulateRuns(const float* x, std::size_t outer, std::size_t units,
                                          std::size_t inner, double* acc) {
  std::vector<Lanes> lanes(units);
  double squares = 0.0;
  const std::size_t rows_per_flush = std::max<std::size_t>(1, kChunk / inner);
  for (std::size_t row = 0; row < outer; ++row) {
    for (std::size_t unit = 0; unit < units; ++unit) {
      AddRun<kSat>(x + (((row * units) + unit) * inner), inner, lanes[unit]);
    }
    if ((row + 1) % rows_per_flush == 0 || row + 1 == outer) {
      for (std::size_t unit = 0; unit < units; ++unit) {
        Lanes& l = lanes[unit];
        acc[(kSum * units) + unit] += LaneTotal(l.sum);
        acc[(kAbs * units) + unit] += LaneTotal(l.abs);
        acc[(kActive * units) + unit] += LaneTotal(l.active);
        acc[(kSaturated * units) + unit] += LaneTotal(l.saturated);
        squares += LaneTotal(l.squares);
        l = Lanes{};
      }
    }
  }
  return squares;
}

// x viewed as (outer, units) (units last): lane j of the block of units first .. first + kLanes
// is unit first + j, so each row adds one vector per block. Blocks are taken one at a time down
// the rows (their lanes stay in registers), in chunks of kChunk rows flushed into the doubles.
template <Saturation kSat>
ATLAS_KERNEL_INLINE double AccumulateRows(const float* x, std::size_t outer, std::size_t units,
                                          double* acc) {
  double squares = 0.0;
  for (std::size_t begin = 0; begin < outer; begin += kChunk) {
    const std::size_t end = std::min(outer, begin + kChunk);
    for (std::size_t first = 0; first < units; first += kLanes) {
      const std::size_t count = std::min(kLanes, units - first);
      Lanes lanes;
      if (count == kLanes) {
        Lanes local;
        for (std::size_t row = begin; row < end; ++row) {
          AddVector<kSat>(x + (row * units) + first, local);
        }
        lanes = local;
      } else {
        for (std::size_t row = begin; row < end; ++row) {
          AddTail<kSat>(x + (row * units) + first, count, lanes);
        }
      }
      FlushUnits(lanes, first, count, units, acc);
      squares += LaneTotal(lanes.squares);
    }
  }
  return squares;
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

// [sum of squares, sum of |x|, count of |x| < 1e-8, non-finite count] of one tensor.
ATLAS_KERNEL_CLONES std::array<double, 4> TensorStats(const float* x, std::size_t n) {
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
      const Vec a = __builtin_bit_cast(Vec, __builtin_bit_cast(Mask, v) & kAbsBits);
      squares += v * v;
      abs += a;
      small += __builtin_bit_cast(Vec, (a < eps) & kOneBits);
    }
    for (std::size_t j = 0; i < end; ++i, ++j) {
      const float v = x[i];
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

// TensorStats of each tensor, into out[4 * i .. 4 * i + 3].
void TensorsStats(const std::vector<FloatIn>& tensors, DoubleOut& out) {
  if (out.shape(0) != 4 * tensors.size()) {
    throw nb::value_error("tensor_stats: out must hold 4 values per tensor");
  }
  const nb::gil_scoped_release release;
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const std::array<double, 4> stats = TensorStats(tensors[t].data(), tensors[t].size());
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

// ----- layer_stats JSON -----

void AppendNumber(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "\"NaN\"";
  } else if (std::isinf(value)) {
    out += value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
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

}  // namespace

void BindLayerStats(nb::module_& m) {
  m.def("accumulate_units", &AccumulateUnits, nb::arg("a"), nb::arg("units"), nb::arg("inner"),
        nb::arg("saturation"), nb::arg("acc"),
        "Adds one activation's per-unit sums to acc, in one pass (layer_health.py).");
  m.def("tensor_stats", &TensorsStats, nb::arg("tensors"), nb::arg("out"),
        "[sum of squares, sum |x|, count |x| < 1e-8, non-finite count] of each tensor.");
  m.def("squared_distances", &SquaredDistances, nb::arg("a"), nb::arg("b"), nb::arg("out"),
        "||a_i - b_i||^2 of each pair of tensors.");
  m.def("layer_stats_json", &LayerStatsJson, nb::arg("step"), nb::arg("epoch"), nb::arg("ts"),
        nb::arg("layers"), "The JSON text of a layer_stats record.");
}

}  // namespace atlas_python
