namespace Cifar.Trainer.Tests;

public class AtomicFileTests
{
    private static string NewFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cifar-atomic-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void A_write_replaces_the_target_and_leaves_no_temporary_file()
    {
        var dir = NewFolder();
        try
        {
            var target = Path.Combine(dir, "a.txt");
            File.WriteAllText(target, "old");
            AtomicFile.WriteText(target, "new");
            Assert.Equal("new", File.ReadAllText(target));
            Assert.Equal(new[] { target }, Directory.GetFiles(dir));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void A_failing_write_keeps_the_previous_file_and_removes_its_temporary_file()
    {
        var dir = NewFolder();
        try
        {
            var target = Path.Combine(dir, "a.bin");
            File.WriteAllBytes(target, new byte[] { 1, 2, 3 });
            var e = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(target, s =>
            {
                s.Write(new byte[] { 9, 9 });
                throw new InvalidOperationException("disk gone");
            }));
            Assert.Equal("disk gone", e.Message);
            Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(target));
            Assert.Equal(new[] { target }, Directory.GetFiles(dir));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Temporary_files_a_killed_write_left_are_removed_by_the_next_write_of_the_same_target_only()
    {
        var dir = NewFolder();
        try
        {
            var target = Path.Combine(dir, "checkpoint.bin");
            var stray = AtomicFile.TempPath(target);
            File.WriteAllText(stray, "half");
            // Not temporary files of this target: another target's, and look-alikes that are not of the exact form.
            var others = new[]
            {
                AtomicFile.TempPath(Path.Combine(dir, "model.zip")),
                target + ".notaguid.tmp",
                target + ".tmp",
                Path.Combine(dir, "checkpoint.bin.0123456789abcdef0123456789abcdef.tmp.keep"),
            };
            foreach (var other in others) File.WriteAllText(other, "keep");
            Assert.Equal(target + "." + Path.GetFileName(stray)[(Path.GetFileName(target).Length + 1)..], stray);

            AtomicFile.WriteBytes(target, new byte[] { 7 });

            Assert.False(File.Exists(stray));
            Assert.All(others, o => Assert.True(File.Exists(o), o));
            Assert.Equal(new byte[] { 7 }, File.ReadAllBytes(target));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void The_temporary_name_is_the_target_a_guid_and_tmp()
    {
        Assert.Matches(@"^/x/y\.zip\.[0-9a-f]{32}\.tmp$", AtomicFile.TempPath("/x/y.zip"));
    }
}
