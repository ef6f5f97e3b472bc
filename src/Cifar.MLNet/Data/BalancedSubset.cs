namespace Cifar.MLNet.Data;

/// <summary>Deterministic class-balanced subsets for quick runs.</summary>
internal static class BalancedSubset
{
    /// <summary>
    /// Picks at most <paramref name="limit"/> items (0 = all), as evenly over the classes as the
    /// counts allow: each class gets limit / classes, the first (limit mod classes) classes one more,
    /// a class with too few items gives its share to the next ones. Within a class the first items
    /// in the given order are taken, so the same input always gives the same subset.
    /// </summary>
    /// <param name="itemsByClass">Items of each class, in class order.</param>
    /// <param name="limit">Maximum total, or 0 for everything.</param>
    /// <returns>The chosen items, class after class, and their class indices.</returns>
    public static IReadOnlyList<(T Item, int ClassIndex)> Take<T>(IReadOnlyList<IReadOnlyList<T>> itemsByClass, int limit)
    {
        if (limit < 0) throw new ArgumentOutOfRangeException(nameof(limit), "limit must be 0 (all) or positive");
        int classes = itemsByClass.Count;
        var quota = new int[classes];
        if (limit == 0)
        {
            for (int c = 0; c < classes; c++) quota[c] = itemsByClass[c].Count;
        }
        else
        {
            // Hand out the limit one round at a time, skipping classes that ran out.
            int left = limit;
            bool gave = true;
            while (left > 0 && gave)
            {
                gave = false;
                for (int c = 0; c < classes && left > 0; c++)
                {
                    if (quota[c] < itemsByClass[c].Count) { quota[c]++; left--; gave = true; }
                }
            }
        }
        var chosen = new List<(T, int)>(quota.Sum());
        for (int c = 0; c < classes; c++)
            for (int i = 0; i < quota[c]; i++) chosen.Add((itemsByClass[c][i], c));
        return chosen;
    }
}
