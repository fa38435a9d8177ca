// The model as the observer sees it: module names, types, parents and own parameters in
// named_modules() order, and the shapes and FLOPs captured from a forward pass.
#include <gtest/gtest.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "architecture.hpp"
#include "capture.hpp"

namespace {

using atlas::torch::internal::ExtractModules;
using atlas::torch::internal::FlopsPerSample;
using atlas::torch::internal::ForwardCapture;
using atlas::torch::internal::ModuleKind;
using atlas::torch::internal::TrackedModule;
using atlas::torch::internal::TypeName;
using Shape = std::vector<std::int64_t>;

std::vector<std::string> Names(const std::vector<TrackedModule>& modules) {
  std::vector<std::string> out;
  out.reserve(modules.size());
  for (const auto& m : modules) out.push_back(m.info.name);
  return out;
}

// A custom module with a frozen parameter of its own, a nested Sequential and a head.
struct EncoderNet : torch::nn::Module {
  EncoderNet()
      : scale(register_parameter("scale", torch::ones({3}), /*requires_grad=*/false)),
        encoder(register_module("encoder",
                                torch::nn::Sequential(torch::nn::Linear(3, 5), torch::nn::Tanh()))),
        head(register_module("head", torch::nn::Linear(5, 2))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return head->forward(encoder->forward(x * scale));
  }
  torch::Tensor scale;
  torch::nn::Sequential encoder;
  torch::nn::Linear head;
};

// Conv -> ReLU -> flatten -> Linear, for shapes.
struct ConvNet : torch::nn::Module {
  ConvNet()
      : conv(register_module("conv",
                             torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)))),
        relu(register_module("relu", torch::nn::ReLU())),
        fc(register_module("fc", torch::nn::Linear(4 * 8 * 8, 3))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return fc->forward(relu->forward(conv->forward(x)).flatten(1));
  }
  torch::nn::Conv2d conv;
  torch::nn::ReLU relu;
  torch::nn::Linear fc;
};

TEST(TypeName, IsTheClassNameAPythonUserWouldSee) {
  EXPECT_EQ(TypeName("torch::nn::LinearImpl"), "Linear");
  EXPECT_EQ(TypeName("torch::nn::SequentialImpl"), "Sequential");
  EXPECT_EQ(TypeName("(anonymous namespace)::NetImpl"), "Net");
  EXPECT_EQ(TypeName("Block<float, 3>"), "Block");
  EXPECT_EQ(TypeName("ns::Impl"), "Impl");  // nothing would be left without the suffix
  EXPECT_EQ(TypeName("Plain"), "Plain");
}

TEST(ExtractModules, SequentialInRegistrationOrder) {
  torch::nn::Sequential model(torch::nn::Linear(3, 4), torch::nn::ReLU(),
                              torch::nn::Linear(torch::nn::LinearOptions(4, 2).bias(false)));
  const auto modules = ExtractModules(*model);
  ASSERT_EQ(Names(modules), (std::vector<std::string>{"", "0", "1", "2"}));
  EXPECT_EQ(modules[0].info.type, "Sequential");
  EXPECT_FALSE(modules[0].info.parent.has_value());
  const std::vector<std::string> types = {"Linear", "ReLU", "Linear"};
  const std::vector<std::int64_t> params = {16, 0, 8};
  const std::vector<std::size_t> tensors = {2, 0, 1};
  for (std::size_t i = 1; i < modules.size(); ++i) {
    EXPECT_EQ(modules[i].info.type, types[i - 1]);
    EXPECT_EQ(modules[i].info.parent, "");
    EXPECT_EQ(modules[i].info.params, params[i - 1]);
    EXPECT_EQ(modules[i].info.trainable_params, params[i - 1]);
    EXPECT_EQ(modules[i].params.size(), tensors[i - 1]);
  }
  EXPECT_EQ(modules[1].param_names, (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(modules[1].kind, ModuleKind::kLinear);
  EXPECT_EQ(modules[2].kind, ModuleKind::kOther);
}

TEST(ExtractModules, CustomModuleOnTheStackWithNestedChildrenAndFrozenParameters) {
  EncoderNet model;  // not in a shared_ptr: named_modules(include_self) would throw
  const auto modules = ExtractModules(model);
  ASSERT_EQ(Names(modules),
            (std::vector<std::string>{"", "encoder", "encoder.0", "encoder.1", "head"}));
  EXPECT_EQ(modules[0].info.type, "EncoderNet");
  EXPECT_EQ(modules[0].info.params, 3);
  EXPECT_EQ(modules[0].info.trainable_params, 0);
  EXPECT_EQ(modules[1].info.parent, "");
  EXPECT_EQ(modules[2].info.parent, "encoder");
  EXPECT_EQ(modules[3].info.parent, "encoder");
  EXPECT_EQ(modules[3].info.type, "Tanh");
  EXPECT_EQ(modules[4].info.parent, "");
  EXPECT_EQ(modules[2].info.params, 3 * 5 + 5);
  EXPECT_EQ(modules[4].info.params, 5 * 2 + 2);
}

TEST(ExtractModules, LinearFlopsAreKnownWithoutAShape) {
  torch::nn::Linear linear(6, 7);
  const auto modules = ExtractModules(*linear);
  EXPECT_EQ(modules[0].info.flops, 84.0);  // a multiply-add is 2 FLOPs
  EXPECT_EQ(modules[0].macs_per_output, 6);
}

TEST(FlopsPerSample, OutputElementsPerSampleTimesWeightPerOutputChannel) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 5).groups(1));
  const auto modules = ExtractModules(*conv);
  EXPECT_EQ(modules[0].macs_per_output, 3 * 5 * 5);
  EXPECT_EQ(FlopsPerSample(modules[0], Shape{16, 8, 10, 10}), 2.0 * 8 * 10 * 10 * 75);
  EXPECT_EQ(FlopsPerSample(modules[0], Shape{}), std::nullopt);
  torch::nn::Tanh tanh;
  EXPECT_EQ(FlopsPerSample(ExtractModules(*tanh)[0], Shape{2, 3}), std::nullopt);
  torch::nn::BatchNorm2d norm(8);
  const auto norm_modules = ExtractModules(*norm);
  EXPECT_EQ(norm_modules[0].kind, ModuleKind::kNorm);
  EXPECT_EQ(FlopsPerSample(norm_modules[0], Shape{16, 8, 10, 10}), 5.0 * 8 * 10 * 10);
}

TEST(AddChildFlops, ContainersAndTheRootIncludeTheirChildren) {
  using atlas::torch::internal::ModuleInfo;
  std::vector<ModuleInfo> modules(5);
  modules[0].name = "";
  modules[1] = {"body", "Sequential", "", 0, 0, {}, {}, std::nullopt};
  modules[2] = {"body.0", "Linear", "body", 0, 0, {}, {}, 10.0};
  modules[3] = {"body.1", "ReLU", "body", 0, 0, {}, {}, std::nullopt};
  modules[4] = {"head", "Linear", "", 0, 0, {}, {}, 5.0};
  atlas::torch::internal::AddChildFlops(&modules);
  EXPECT_EQ(modules[0].flops, 15.0);
  EXPECT_EQ(modules[1].flops, 10.0);
  EXPECT_EQ(modules[2].flops, 10.0);
  EXPECT_FALSE(modules[3].flops.has_value());
  EXPECT_EQ(modules[4].flops, 5.0);
}

TEST(ForwardCapture, ShapesOfModulesThatOwnParameters) {
  ConvNet model;
  const auto modules = ExtractModules(model);
  ASSERT_EQ(Names(modules), (std::vector<std::string>{"", "conv", "relu", "fc"}));
  ForwardCapture capture(modules, /*keep_outputs=*/false);
  capture.Start();
  const torch::Tensor y = model.forward(torch::rand({2, 1, 8, 8}));
  capture.Stop();
  ASSERT_EQ(capture.error(), "");
  const auto& calls = capture.calls();
  EXPECT_FALSE(calls[0].seen);  // the root owns no parameter
  EXPECT_FALSE(calls[2].seen);  // nor does ReLU
  ASSERT_TRUE(calls[1].seen);
  EXPECT_EQ(calls[1].input_shape, (Shape{2, 1, 8, 8}));
  EXPECT_EQ(calls[1].output_shape, (Shape{2, 4, 8, 8}));
  ASSERT_TRUE(calls[3].seen);
  // Linear runs as aten::t(weight) then aten::addmm: the transposed weight is not the output.
  EXPECT_EQ(calls[3].input_shape, (Shape{2, 256}));
  EXPECT_EQ(calls[3].output_shape, (Shape{2, 3}));
  EXPECT_FALSE(calls[3].output.defined());  // outputs were not asked for
  EXPECT_EQ(FlopsPerSample(modules[1], calls[1].output_shape), 2.0 * 4 * 8 * 8 * 9);
  EXPECT_EQ(FlopsPerSample(modules[3], calls[3].output_shape), 2.0 * 3 * 256);
}

TEST(ForwardCapture, LinearWithoutBiasAndTheFirstCallOfAModuleCounts) {
  torch::nn::Linear linear(torch::nn::LinearOptions(4, 2).bias(false));
  const auto modules = ExtractModules(*linear);
  ForwardCapture capture(modules, /*keep_outputs=*/true);
  capture.Start();
  const torch::Tensor first = linear->forward(torch::rand({5, 4}));
  (void)linear->forward(torch::rand({7, 3, 4}));
  capture.Stop();
  const auto& call = capture.calls()[0];
  ASSERT_TRUE(call.seen);
  EXPECT_EQ(call.input_shape, (Shape{5, 4}));
  EXPECT_EQ(call.output_shape, (Shape{5, 2}));
  ASSERT_TRUE(call.output.defined());
  EXPECT_TRUE(call.output.equal(first));
}

TEST(ForwardCapture, SeesNothingOnceStoppedAndOneCapturePerThread) {
  torch::nn::Linear linear(3, 3);
  const auto modules = ExtractModules(*linear);
  ForwardCapture capture(modules, false);
  capture.Start();
  EXPECT_TRUE(capture.active());
  ForwardCapture second(modules, false);
  EXPECT_THROW(second.Start(), std::logic_error);
  capture.Stop();
  EXPECT_FALSE(capture.active());
  (void)linear->forward(torch::rand({1, 3}));
  EXPECT_FALSE(capture.calls()[0].seen);
}

}  // namespace
