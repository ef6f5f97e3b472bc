using System.Text.Json;
using System.Text.Json.Serialization;
using Cifar.Networks;

namespace Cifar;

/// <summary>
/// A whole recipe: the network, how it trains, how pixels are normalized and how training images are augmented (the
/// four recipe sections of a run's config file). Select one in a line: <c>ml.Transforms.CifarStages(CifarRecipe.Fast)
/// .AppendCifarCnn(CifarCnnOptions.For(CifarRecipe.Fast))</c>; change a value with <c>with</c>.
/// </summary>
public sealed record CifarRecipe
{
    // Read as network files are (any case, comments, trailing commas, unknown keys refused), plus choices by name and
    // no null where a section or value must be.
    private static readonly JsonSerializerOptions Json = new(NetworkDefinition.CompactJson)
    {
        RespectNullableAnnotations = true,
        Converters = { new JsonStringEnumConverter(allowIntegerValues: false) },
    };

    /// <summary>The network and how it scores. Default the tutorial's <c>SeedCnn</c>.</summary>
    public ModelOptions Model { get; init; } = new();

    /// <summary>The hyper-parameters. Default the tutorial's.</summary>
    public TrainingOptions Training { get; init; } = new();

    /// <summary>The pixel normalization. Default the tutorial's (0.5, 0.5).</summary>
    public PixelNormalization Normalization { get; init; } = PixelNormalization.Tutorial;

    /// <summary>The train-time augmentation. Default none (the tutorial's first run).</summary>
    public AugmentationOptions Augmentation { get; init; } = new();

    /// <summary>The tutorial's first run: <c>SeedCnn</c>, Adam, batch 32, 15 epochs, no augmentation (configs/seed.json).</summary>
    public static CifarRecipe Tutorial { get; } = new();

    /// <summary>
    /// airbench94's recipe on <c>AirbenchNet</c> (docs/fast.md): about 90.7 % on the JPEG copy of CIFAR-10 in 10 epochs,
    /// validating after the last one only (<see cref="TrainingOptions.ValidationInterval"/> 0: the epochs before report no
    /// validation).
    /// Its values are the repository's configs/fast.json, which this assembly carries: that file is the recipe's one table.
    /// </summary>
    public static CifarRecipe Fast => LazyFast.Value;

    private static readonly Lazy<CifarRecipe> LazyFast = new(() => FromEmbedded("fast.json"));

    /// <summary>
    /// A recipe from JSON with any of the four sections (<c>Model</c>, <c>Training</c>, <c>Normalization</c>,
    /// <c>Augmentation</c>), read as config files are: keys in any case, choices by name, comments allowed; what is
    /// left out keeps its default. Validated.
    /// </summary>
    /// <remarks>A run's whole config file is not a recipe: its <c>Data</c> and <c>Torch</c> sections are the app's, refused here.</remarks>
    /// <exception cref="JsonException">The text is not such JSON (an unknown key, a null section or a layer without a known type included).</exception>
    /// <exception cref="OptionsException">A value is out of range; the key names it.</exception>
    public static CifarRecipe FromJson(string json)
    {
        CifarRecipe? recipe;
        try
        {
            recipe = JsonSerializer.Deserialize<CifarRecipe>(json, Json);
        }
        catch (NotSupportedException e) // a layer whose Type is missing or unknown
        {
            throw new JsonException(e.Message, e);
        }
        recipe = recipe ?? throw new JsonException("the recipe is null");
        recipe.Validate();
        return recipe;
    }

    /// <summary>Checks every section with its own rules.</summary>
    /// <exception cref="OptionsException">The first value out of range, named by its key.</exception>
    public void Validate()
    {
        Model.Validate();
        Training.Validate();
        Normalization.Validate();
        Augmentation.Validate();
    }

    private static CifarRecipe FromEmbedded(string name)
    {
        using var stream = typeof(CifarRecipe).Assembly.GetManifestResourceStream($"Cifar.Recipes.{name}")
            ?? throw new InvalidOperationException($"the recipe {name} is missing from {typeof(CifarRecipe).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return FromJson(reader.ReadToEnd());
    }
}
