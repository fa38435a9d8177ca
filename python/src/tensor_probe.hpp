// TensorProbe: what the Observer's fast step reads from torch tensors (the batch's sample and
// token counts, a CPU loss's value), read through the Python C API without torch's headers.
//
// It recognises only the common case: a batch and a loss that are exactly torch.Tensor, the
// loss a one-element tensor on the CPU. Anything else (a tensor subclass, a batch in a tuple or
// dict, a loss on an accelerator, a loss of several elements) it declines, and the Observer's
// Python readers (modelinfo.batch_counts, observer._host_value) take over, so the two always
// agree on what they both accept (tests/python/test_step_path.py).
#pragma once

#include <nanobind/nanobind.h>

#include <optional>

namespace atlas_python {

class TensorProbe {
 public:
  // torch.Tensor and the dtypes torch.bool, torch.float32 and torch.float64; until set, the
  // probe declines everything.
  void Configure(nanobind::handle tensor_type, nanobind::handle bool_dtype,
                 nanobind::handle float32_dtype, nanobind::handle float64_dtype);

  // The value of a one-element CPU tensor; false (no Python error set) when declined.
  bool ReadCpuScalar(nanobind::handle loss, double& value);

  // (samples, tokens) as modelinfo.batch_counts gives them; false when declined.
  bool ReadBatchCounts(nanobind::handle batch, std::optional<double>& samples,
                       std::optional<double>& tokens);

  // Exactly torch.Tensor (not a subclass).
  bool IsExactTensor(nanobind::handle value) const;
  // An exact tensor that modelinfo.is_loss_tensor accepts: one element, floating point.
  // False (no Python error set) when declined.
  bool IsLossTensor(nanobind::handle value);

 private:
  // A 0-dim float32 or float64 CPU tensor's value, read at its data_ptr(): item() goes through
  // torch's dispatcher, which costs ~8 us more when it is cold after a backward.
  bool ReadZeroDimFloat(nanobind::handle loss, double& value);
  // Integer dtypes hold token ids (modelinfo._tokens); the last dtype's answer is kept.
  bool HoldsTokens(nanobind::handle dtype);

  nanobind::object tensor_type_;
  nanobind::object bool_dtype_;
  nanobind::object float32_;
  nanobind::object float64_;
  nanobind::object last_dtype_;
  bool last_dtype_tokens_ = false;
  // Attribute names, interned once.
  nanobind::str is_cpu_{"is_cpu"};
  nanobind::str item_{"item"};
  nanobind::str data_ptr_{"data_ptr"};
  nanobind::str shape_{"shape"};
  nanobind::str dtype_{"dtype"};
  nanobind::str is_floating_point_{"is_floating_point"};
  nanobind::str is_complex_{"is_complex"};
  nanobind::str numel_{"numel"};
};

}  // namespace atlas_python
