namespace Cifar;

/// <summary>The optimizer that updates the weights.</summary>
public enum OptimizerKind
{
    /// <summary>Adam (PyTorch's: weight decay added to the gradient).</summary>
    Adam,
    /// <summary>SGD with momentum (<see cref="TrainingOptions.Momentum"/>), as <c>torch.optim.SGD</c>.</summary>
    Sgd,
    /// <summary>SGD with Nesterov momentum (<see cref="TrainingOptions.Momentum"/>), as <c>torch.optim.SGD(nesterov=True)</c>.</summary>
    Nesterov,
    /// <summary>
    /// airbench94_muon's pair: the convolution filters step with Muon (<see cref="TrainingOptions.Muon"/>); every other
    /// parameter with <see cref="Nesterov"/> SGD, whose settings are the usual ones.
    /// </summary>
    Muon,
}

/// <summary>
/// The learning rate over a run as a factor of <see cref="TrainingOptions.LearningRate"/>, per step: linear from
/// <see cref="StartFactor"/> to 1 over the first <see cref="WarmupFraction"/> of the steps, then linear to
/// <see cref="EndFactor"/> at the last step. The defaults keep it constant.
/// </summary>
public sealed record LearningRateSchedule
{
    /// <summary>The share of all steps spent warming up, in [0, 1). Default 0.</summary>
    public double WarmupFraction { get; init; }

    /// <summary>The factor at the first step. Default 1.</summary>
    public double StartFactor { get; init; } = 1;

    /// <summary>The factor at the last step. Default 1.</summary>
    public double EndFactor { get; init; } = 1;

    /// <summary>The factor of step <paramref name="step"/> (0-based) of <paramref name="totalSteps"/>.</summary>
    public double Factor(long step, long totalSteps)
    {
        if (WarmupFraction == 0 && StartFactor == 1 && EndFactor == 1) return 1; // exactly, whatever the rounding below
        long warmup = (long)(totalSteps * WarmupFraction);
        if (step < warmup) return StartFactor + (1 - StartFactor) * step / warmup;
        double progress = (double)(step - warmup) / Math.Max(1, totalSteps - warmup);
        return 1 + (EndFactor - 1) * progress;
    }
}

/// <summary>
/// The number type of the training passes. The weights, the optimizer's state and BatchNorm stay float32 whatever
/// the choice (mixed precision: a 16-bit working copy of the network runs each forward and backward pass); the saved
/// model is float32.
/// </summary>
public enum TrainingPrecision
{
    /// <summary>float32 throughout (the tutorial's results, bit for bit).</summary>
    Float32,
    /// <summary>bfloat16 passes: faster on CPUs that compute in bfloat16 natively (docs/fast.md), slower on others.</summary>
    BFloat16,
    /// <summary>float16 passes, as airbench trains on a GPU; the backward pass runs on the loss scaled by the batch size.</summary>
    Float16,
    /// <summary>
    /// <see cref="Float16"/> on a GPU; <see cref="BFloat16"/> on a CPU that computes in it natively (AVX-512 BF16 or AMX-BF16,
    /// as /proc/cpuinfo lists), else <see cref="Float32"/>.
    /// </summary>
    Auto,
}

/// <summary>
/// How a CPU run computes each convolution's gradient with respect to its input, the larger half of a convolution's
/// backward pass. A GPU keeps cuDNN's backward kernels whatever the choice.
/// </summary>
public enum ConvolutionInputGradient
{
    /// <summary>libtorch's backward kernel (the tutorial's results, bit for bit).</summary>
    Libtorch,
    /// <summary>
    /// The output's gradient convolved with the filters transposed and flipped, by libtorch's forward kernel: the same
    /// gradient up to float rounding (in float32 within 1e-4 of its scale, tested), and on the processor measured (AMD
    /// Zen 5, oneDNN limited to AVX, float32) AirbenchNet's backward pass took 12 % less time (docs/performance.md).
    /// Convolutions with stride 1, no dilation, no groups, zero padding of at most the kernel side − 1; others keep
    /// <see cref="Libtorch"/>.
    /// </summary>
    FlippedFilters,
}

/// <summary>Where training runs.</summary>
public enum ComputeDevice
{
    /// <summary>CUDA when libtorch sees a GPU, else the CPU.</summary>
    Auto,
    /// <summary>Always the CPU.</summary>
    Cpu,
    /// <summary>The first CUDA GPU; an error when there is none.</summary>
    Cuda,
}

/// <summary>
/// How a network trains: the configuration's <c>Training</c> section. Every default is the tutorial's; this record
/// is the one place they are written.
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Training";

    /// <summary>Passes over the training set. Default 15.</summary>
    public int Epochs { get; init; } = 15;

    /// <summary>Images per training step. Default 32.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Optimizer. Default Adam.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;

    /// <summary>Learning rate (with <see cref="OptimizerKind.Muon"/>, of the parameters SGD steps). Default 0.001.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>
    /// L2 weight decay (added to the gradient, as PyTorch's optimizers do; with <see cref="OptimizerKind.Muon"/>, of the
    /// parameters SGD steps: Muon's filters keep their norm by rescaling instead). Default 5e-4.
    /// </summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>
    /// Momentum of <see cref="OptimizerKind.Sgd"/> and <see cref="OptimizerKind.Nesterov"/> (with <see cref="OptimizerKind.Muon"/>,
    /// of the parameters SGD steps), in [0, 1). Default 0.9.
    /// </summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>The learning rate's course over the run, per step. Default constant.</summary>
    public LearningRateSchedule Schedule { get; init; } = new();

    /// <summary>
    /// Multiplies the learning rate of BatchNorm shifts (biases), dividing their weight decay by the same factor so
    /// the decay per step stays the same (airbench's bias scaler). With <see cref="OptimizerKind.Muon"/> the patch whitening's
    /// bias gets it too, and its schedule runs over the epochs it learns in (airbench94_muon's bias group). Default 1.
    /// </summary>
    public double BatchNormBiasLearningRateScale { get; init; } = 1;

    /// <summary>How <see cref="OptimizerKind.Muon"/> steps the convolution filters; unused by the other optimizers. Default airbench94_muon's.</summary>
    public MuonOptions Muon { get; init; } = new();

    /// <summary>
    /// Label smoothing ε of the cross-entropy loss, in [0, 1): the target puts 1 − ε on the true class and ε spread
    /// evenly over all classes (PyTorch's <c>label_smoothing</c>). Default 0.
    /// </summary>
    public double LabelSmoothing { get; init; }

    /// <summary>
    /// Every this many steps, the weights and BatchNorm statistics move to an exponential moving average of themselves
    /// and training continues from there (airbench's lookahead; the average's decay is 0.95 per step, scaled by the
    /// cube of the run's progress, so it starts loose and tightens); after the last step the weights are the
    /// average's. 0 = off. Default 0.
    /// </summary>
    public int LookaheadInterval { get; init; }

    /// <summary>
    /// The number type of the forward and backward passes; the weights stay float32 (<see cref="TrainingPrecision"/>).
    /// Default <see cref="TrainingPrecision.Float32"/>.
    /// </summary>
    public TrainingPrecision Precision { get; init; } = TrainingPrecision.Float32;

    /// <summary>
    /// How a CPU run computes convolutions' input gradients (<see cref="Cifar.ConvolutionInputGradient"/>). Default
    /// <see cref="ConvolutionInputGradient.Libtorch"/>.
    /// </summary>
    public ConvolutionInputGradient ConvolutionInputGradient { get; init; } = ConvolutionInputGradient.Libtorch;

    /// <summary>Shuffle the training set every epoch. Default true.</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Seeds weight initialisation, shuffling and augmentation. Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// Flush denormal numbers to zero on the threads that train on the CPU: without it, long CPU runs slow down
    /// several-fold on processors that handle denormals in microcode (Intel's) once the optimizer's state decays into
    /// the denormal range (below 1.2e-38; docs/performance.md).
    /// Values that small change no result that matters. x86-64 Linux only. Default true.
    /// Contained: training runs on a thread of its own, the calling thread's setting never changes, and the callbacks
    /// (and threads they start) compute with the calling thread's setting.
    /// </summary>
    public bool FlushDenormals { get; init; } = true;

    /// <summary>Where to train. Default <see cref="ComputeDevice.Auto"/> (a CUDA GPU when libtorch sees one).</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

    /// <summary>
    /// Images per forward pass when evaluating (changes no result beyond float rounding), or null for the device's
    /// default: 64 on the CPU, where larger batches fall out of the caches and run slower (docs/performance.md), 1,024 on a GPU.
    /// </summary>
    public int? EvaluationBatchSize { get; init; }

    /// <summary>
    /// Validate after every this many epochs, and always after the last; 0 validates after the last epoch only, however
    /// many there are. The epochs between report no validation (<see cref="EpochMetrics.ValidationAccuracy"/> null).
    /// Validation changes nothing that trains, so this only saves time: a pass over 10,000 images is about 7 % of a fast
    /// recipe's float32 epoch on the CPU, 15 % of a bfloat16 one (docs/fast.md). Default 1 (every epoch).
    /// </summary>
    public int ValidationInterval { get; init; } = 1;

    /// <summary>Whether <paramref name="epoch"/> (from 1) is validated under <see cref="ValidationInterval"/>.</summary>
    internal bool Validates(int epoch) => epoch == Epochs || (ValidationInterval > 0 && epoch % ValidationInterval == 0);

    /// <summary>Checks every value.</summary>
    /// <exception cref="OptionsException">A value is out of range; the key is <c>Training:Name</c>.</exception>
    public void Validate() => new OptionChecks(Section)
        .Check(Epochs > 0, nameof(Epochs), "must be greater than 0", Epochs)
        .Check(BatchSize > 0, nameof(BatchSize), "must be greater than 0", BatchSize)
        .Check(Enum.IsDefined(Optimizer), nameof(Optimizer), "must be Adam, Sgd, Nesterov or Muon", Optimizer)
        .Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), "must be greater than 0", LearningRate)
        .Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), "must be 0 or more", WeightDecay)
        .Check(Momentum is >= 0 and < 1, nameof(Momentum), "must be in [0, 1)", Momentum)
        .Check(Schedule is not null, nameof(Schedule), "must be an object", Schedule)
        .Check(Schedule is null || Schedule.WarmupFraction is >= 0 and < 1, $"{nameof(Schedule)}:{nameof(LearningRateSchedule.WarmupFraction)}", "must be in [0, 1)", Schedule?.WarmupFraction)
        .Check(Schedule is null || Schedule.StartFactor is >= 0 and <= 1000, $"{nameof(Schedule)}:{nameof(LearningRateSchedule.StartFactor)}", "must be in [0, 1000]", Schedule?.StartFactor)
        .Check(Schedule is null || Schedule.EndFactor is >= 0 and <= 1000, $"{nameof(Schedule)}:{nameof(LearningRateSchedule.EndFactor)}", "must be in [0, 1000]", Schedule?.EndFactor)
        .Check(Muon is not null, nameof(Muon), "must be an object", Muon)
        .Check(Muon is null || (Muon.LearningRate > 0 && double.IsFinite(Muon.LearningRate)), $"{nameof(Muon)}:{nameof(MuonOptions.LearningRate)}", "must be greater than 0", Muon?.LearningRate)
        .Check(Muon is null || Muon.Momentum is >= 0 and < 1, $"{nameof(Muon)}:{nameof(MuonOptions.Momentum)}", "must be in [0, 1)", Muon?.Momentum)
        .Check(Muon is null || Muon.NewtonSchulzSteps is >= 1 and <= 10, $"{nameof(Muon)}:{nameof(MuonOptions.NewtonSchulzSteps)}", "must be in [1, 10]", Muon?.NewtonSchulzSteps)
        .Check(BatchNormBiasLearningRateScale > 0 && double.IsFinite(BatchNormBiasLearningRateScale), nameof(BatchNormBiasLearningRateScale), "must be greater than 0", BatchNormBiasLearningRateScale)
        .Check(LabelSmoothing is >= 0 and < 1, nameof(LabelSmoothing), "must be in [0, 1)", LabelSmoothing)
        .Check(LookaheadInterval >= 0, nameof(LookaheadInterval), "must be 0 or more", LookaheadInterval)
        .Check(Enum.IsDefined(Precision), nameof(Precision), "must be Float32, BFloat16, Float16 or Auto", Precision)
        .Check(Enum.IsDefined(ConvolutionInputGradient), nameof(ConvolutionInputGradient), "must be Libtorch or FlippedFilters", ConvolutionInputGradient)
        .Check(Enum.IsDefined(Device), nameof(Device), "must be Auto, Cpu or Cuda", Device)
        .Check(EvaluationBatchSize is null or > 0, nameof(EvaluationBatchSize), "must be greater than 0 (or left out)", EvaluationBatchSize)
        .Check(ValidationInterval >= 0, nameof(ValidationInterval), "must be 0 (the last epoch only) or more", ValidationInterval);

    /// <summary>
    /// The options that change what a run computes, for a checkpoint's fingerprint: all but <see cref="Epochs"/>
    /// (a resumed run may train longer), <see cref="Device"/>, <see cref="EvaluationBatchSize"/> and
    /// <see cref="ValidationInterval"/> (where, how fast and how often it is scored, not what it computes). A new option is
    /// covered without an edit here.
    /// </summary>
    internal TrainingOptions ResultDefining =>
        this with { Epochs = 0, Device = ComputeDevice.Auto, EvaluationBatchSize = null, ValidationInterval = 1 };
}
