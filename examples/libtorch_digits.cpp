// Trains a small CNN on scikit-learn's digits (1797 8x8 images of handwritten digits) with
// LibTorch, streaming the run to atlasd through atlas::torch::Observer.
//
// Build and run (atlasd listening on 127.0.0.1:7878, e.g. `make demo` or `atlasd --port 7878`):
//   cmake -S . -B build -G Ninja && ninja -C build libtorch_digits
//   build/torch/libtorch_digits --url http://127.0.0.1:7878 --data <path>
// where <path> is sklearn/datasets/data/digits.csv.gz of the scikit-learn in .venv (the build
// compiles that path in as the default, so --data may be left out). Other options:
//   --project NAME  --run-name NAME  --epochs N  --batch-size N  --lr X  --offline
// With --offline nothing is sent: the records go to the spool for `atlas sync` later.
//
// The data set: each CSV line holds 64 pixel values (0-16) and the label (0-9).
#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>
#include <zlib.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atlas/torch.hpp"

namespace {

#ifdef ATLAS_DIGITS_CSV_GZ
constexpr const char* kDefaultData = ATLAS_DIGITS_CSV_GZ;
#else
constexpr const char* kDefaultData = "";
#endif

struct Args {
  std::string url = "http://127.0.0.1:7878";
  std::string data = kDefaultData;
  std::string project = "demo";
  std::string run_name = "libtorch-digits-cnn";
  int epochs = 5;
  std::int64_t batch_size = 64;
  double lr = 3e-3;
  bool offline = false;
};

void Usage() {
  std::fprintf(stderr,
               "usage: libtorch_digits [--url URL] [--data digits.csv.gz] [--project NAME]\n"
               "                       [--run-name NAME] [--epochs N] [--batch-size N] [--lr X]\n"
               "                       [--offline]\n");
}

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

std::optional<Args> ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--offline") {
      args.offline = true;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    const std::string_view value = argv[++i];
    bool ok = true;
    if (flag == "--url") {
      args.url = value;
    } else if (flag == "--data") {
      args.data = value;
    } else if (flag == "--project") {
      args.project = value;
    } else if (flag == "--run-name") {
      args.run_name = value;
    } else if (flag == "--epochs") {
      ok = ParseNumber(value, &args.epochs) && args.epochs > 0;
    } else if (flag == "--batch-size") {
      ok = ParseNumber(value, &args.batch_size) && args.batch_size > 0;
    } else if (flag == "--lr") {
      ok = ParseNumber(value, &args.lr) && args.lr > 0;
    } else {
      ok = false;
    }
    if (!ok) return std::nullopt;
  }
  return args;
}

struct Digits {
  torch::Tensor images;  // [N, 1, 8, 8], scaled to [0, 1]
  torch::Tensor labels;  // [N], int64
};

// Reads the gzip'ed CSV with zlib: 64 pixels and a label per line.
std::optional<Digits> LoadDigits(const std::string& path, std::string* error) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    *error = "cannot open " + path;
    return std::nullopt;
  }
  std::vector<float> pixels;
  std::vector<std::int64_t> labels;
  std::vector<char> line(4096);
  int line_number = 0;
  while (gzgets(file, line.data(), static_cast<int>(line.size())) != nullptr) {
    ++line_number;
    std::string_view rest(line.data());
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.remove_suffix(1);
    if (rest.empty()) continue;
    std::vector<int> values;
    while (true) {
      const auto comma = rest.find(',');
      int v = 0;
      if (!ParseNumber(rest.substr(0, comma), &v)) break;
      values.push_back(v);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (values.size() != 65 || values[64] < 0 || values[64] > 9) {
      gzclose(file);
      *error = path + ":" + std::to_string(line_number) + ": expected 64 pixels and a label";
      return std::nullopt;
    }
    for (int i = 0; i < 64; ++i) pixels.push_back(static_cast<float>(values[i]) / 16.0F);
    labels.push_back(values[64]);
  }
  gzclose(file);
  if (labels.empty()) {
    *error = path + " holds no samples";
    return std::nullopt;
  }
  const auto n = static_cast<std::int64_t>(labels.size());
  return Digits{torch::tensor(pixels).reshape({n, 1, 8, 8}), torch::tensor(labels)};
}

// Conv(1->16, 3x3, padding 1) -> ReLU -> MaxPool(2) -> Linear(16*4*4 -> 10), as the Python
// example examples/stream_digits.py.
struct DigitsNetImpl : torch::nn::Module {
  DigitsNetImpl()
      : features(register_module(
            "features",
            torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3).padding(1)),
                                  torch::nn::ReLU(), torch::nn::MaxPool2d(2)))),
        classifier(register_module("classifier", torch::nn::Linear(16 * 4 * 4, 10))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    return classifier->forward(features->forward(x).flatten(1));
  }

  torch::nn::Sequential features;
  torch::nn::Linear classifier;
};
TORCH_MODULE(DigitsNet);

struct Evaluation {
  double loss;
  double accuracy;
};

Evaluation Evaluate(DigitsNet& model, const torch::Tensor& x, const torch::Tensor& y) {
  const torch::NoGradGuard no_grad;
  model->eval();
  const torch::Tensor logits = model->forward(x);
  const double loss = torch::nn::functional::cross_entropy(logits, y).item<double>();
  const double accuracy = logits.argmax(1).eq(y).to(torch::kDouble).mean().item<double>();
  model->train();
  return {loss, accuracy};
}

int Train(const Args& args, const Digits& digits) {
  torch::manual_seed(0);
  const std::int64_t n = digits.labels.size(0);
  const std::int64_t split = n * 8 / 10;
  const torch::Tensor train_x = digits.images.slice(0, 0, split);
  const torch::Tensor train_y = digits.labels.slice(0, 0, split);
  const torch::Tensor val_x = digits.images.slice(0, split);
  const torch::Tensor val_y = digits.labels.slice(0, split);

  DigitsNet model;
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(args.lr));

  atlas::torch::ObserverOptions options;
  options.client.server_url = args.url;
  options.client.project = args.project;
  options.client.run_name = args.run_name;
  options.client.offline = args.offline;
  options.client.config_json = "{\"epochs\":" + std::to_string(args.epochs) +
                               ",\"batch_size\":" + std::to_string(args.batch_size) + "}";
  options.layer_health_every = 10;
  auto observer = atlas::torch::Observer::Create(options);
  observer->LogHyperparameters({{"batch_size", args.batch_size},
                                {"learning_rate", args.lr},
                                {"optimizer", "Adam"},
                                {"num_epochs", std::int64_t{args.epochs}},
                                {"language", "C++ (LibTorch)"}});
  observer->RegisterModel(*model);
  observer->RegisterOptimizer(optimizer);

  for (int epoch = 0; epoch < args.epochs; ++epoch) {
    const torch::Tensor order = torch::randperm(split);
    for (std::int64_t i = 0; i < split; i += args.batch_size) {
      const torch::Tensor index = order.slice(0, i, i + args.batch_size);
      const torch::Tensor x = train_x.index_select(0, index);
      const torch::Tensor y = train_y.index_select(0, index);

      auto step = observer->BeginStep(index.size(0));
      const torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      step.MarkForward();
      optimizer.zero_grad();
      loss.backward();
      step.MarkBackward();
      optimizer.step();
      step.End(loss);
    }
    const Evaluation val = Evaluate(model, val_x, val_y);
    observer->EndEpoch({.val = {{"loss", val.loss}, {"accuracy", val.accuracy}}});
    std::printf("  epoch %d: val loss %.3f, val accuracy %.3f\n", epoch, val.loss, val.accuracy);
    std::fflush(stdout);
  }

  const atlas::Status finished = observer->Finish();
  const atlas::torch::ObserverStats stats = observer->stats();
  std::printf("run %s: %lld steps, %lld layer samples, %llu records sent, %llu spooled%s%s\n",
              observer->run_id().c_str(), static_cast<long long>(stats.steps),
              static_cast<long long>(stats.layer_samples),
              static_cast<unsigned long long>(stats.client.sent),
              static_cast<unsigned long long>(stats.client.spooled),
              finished.ok() ? "" : "; finish: ", finished.message().c_str());
  return stats.telemetry_errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Args> args = ParseArgs(argc, argv);
  if (!args) {
    Usage();
    return 2;
  }
  if (args->data.empty()) {
    std::fprintf(stderr, "libtorch_digits: no data set: pass --data <digits.csv.gz>\n");
    return 2;
  }
  std::string error;
  const std::optional<Digits> digits = LoadDigits(args->data, &error);
  if (!digits) {
    std::fprintf(stderr, "libtorch_digits: %s\n", error.c_str());
    return 1;
  }
  std::printf("digits: %lld samples from %s\n", static_cast<long long>(digits->labels.size(0)),
              args->data.c_str());
  return Train(*args, *digits);
}
