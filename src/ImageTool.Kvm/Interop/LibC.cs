using System.Runtime.InteropServices;

namespace ImageTool.Kvm.Interop;

/// <summary>The few libc calls the runner needs. Callers turn failures into messages with <see cref="Errno"/>.</summary>
internal static partial class LibC
{
    public const int ORdWr = 2;
    public const int OCloExec = 0x80000;
    public const int ProtRead = 1;
    public const int ProtWrite = 2;
    public const int MapShared = 1;
    public const int MapPrivate = 2;
    public const int MapAnonymous = 0x20;
    public const int MapNoReserve = 0x4000;
    public const int SigBlock = 0;
    public const int FOfdGetLk = 36;
    public const int FOfdSetLk = 37;
    public const short FRdLck = 0;
    public const short FWrLck = 1;
    public const short FUnLck = 2;
    public const int EIntr = 4;
    public const int EAgain = 11;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, nint arg);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint addr, nuint length);

    [LibraryImport("libc", EntryPoint = "pthread_self")]
    public static partial nuint PthreadSelf();

    [LibraryImport("libc", EntryPoint = "pthread_kill")]
    public static partial int PthreadKill(nuint thread, int signal);

    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    public static unsafe partial int PthreadSigmask(int how, byte* set, byte* oldSet);

    [LibraryImport("libc", EntryPoint = "sigtimedwait", SetLastError = true)]
    public static unsafe partial int SigTimedWait(byte* set, nint info, Timespec* timeout);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static unsafe partial int Fcntl(int fd, int cmd, Flock* lock_);

    [LibraryImport("libc", EntryPoint = "isatty")]
    public static partial int IsATty(int fd);

    [LibraryImport("libc", EntryPoint = "tcgetattr", SetLastError = true)]
    public static unsafe partial int TcGetAttr(int fd, byte* termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr", SetLastError = true)]
    public static unsafe partial int TcSetAttr(int fd, int action, byte* termios);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    // struct flock on x86-64: short type, short whence, off_t start, off_t len, pid_t pid.
    [StructLayout(LayoutKind.Sequential)]
    public struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }
}
