using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Cifar.MLNet.Prediction;

/// <summary>A saved model's input: the path of an image file in any size and format ImageAnalytics reads.</summary>
public sealed class ImageInput
{
    /// <summary>Path of the image file.</summary>
    public string ImagePath { get; set; } = "";
}

/// <summary>An in-memory image as input (the saved model minus its file-loading step).</summary>
public sealed class InMemoryImageInput
{
    /// <summary>The decoded image, any size.</summary>
    [ImageType(CifarImage.Height, CifarImage.Width)] // declared size only: any size is resized inside the model
    public MLImage? Image { get; set; }
}

/// <summary>A saved model's output.</summary>
public sealed class ImagePrediction
{
    /// <summary>The most probable class's name.</summary>
    public string PredictedLabel { get; set; } = "";

    /// <summary>Probability of each class, in class order; they sum to 1.</summary>
    public float[] Score { get; set; } = [];
}
