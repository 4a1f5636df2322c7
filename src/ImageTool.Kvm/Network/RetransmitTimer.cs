using System.Diagnostics;

namespace ImageTool.Kvm.Network;

/// <summary>
/// A connection's retransmission timeout (RFC 6298) in the network's 100 ms ticks: one new segment at a time is
/// timed (never a retransmitted one, Karn's rule), the smoothed round trip and its variation set the timeout
/// (at least 300 ms, at most 4 s), and each expiry doubles it until the next acknowledgment. Ticks while frames
/// still wait for the guest's NIC do not count: the guest has not seen them, so they cannot be lost yet (a slow
/// guest would otherwise get every in-flight segment twice).
/// </summary>
internal sealed class RetransmitTimer
{
    private const int MinTicks = 3, MaxTicks = 40;
    private const double TickMs = 100;

    private double _smoothed = -1, _variation;
    private int _base = MinTicks, _current = MinTicks, _ticks;
    private bool _timing;
    private uint _timedEnd;
    private long _timedAt;

    /// <summary>Ticks the current timeout lasts (for tests and traces).</summary>
    public int Timeout => _current;

    /// <summary>A segment that ends at <paramref name="end"/> went out for the first time.</summary>
    public void Sent(uint end)
    {
        if (_timing) return;
        _timing = true;
        _timedEnd = end;
        _timedAt = Stopwatch.GetTimestamp();
    }

    /// <summary>The guest acknowledged new data up to <paramref name="ack"/>: a round-trip sample, the timer restarts.</summary>
    public void Acknowledged(uint ack)
    {
        if (_timing && (int)(ack - _timedEnd) >= 0)
        {
            _timing = false;
            double sample = Stopwatch.GetElapsedTime(_timedAt).TotalMilliseconds / TickMs;
            if (_smoothed < 0)
            {
                _smoothed = sample;
                _variation = sample / 2;
            }
            else
            {
                _variation = 0.75 * _variation + 0.25 * Math.Abs(_smoothed - sample);
                _smoothed = 0.875 * _smoothed + 0.125 * sample;
            }
            _base = Math.Clamp((int)Math.Ceiling(_smoothed + 4 * _variation), MinTicks, MaxTicks);
        }
        _current = _base;
        _ticks = 0;
    }

    /// <summary>One tick with something unacknowledged; true when the timeout ran out (and backs off).</summary>
    public bool Expired(bool guestBacklog)
    {
        if (guestBacklog)
        {
            _ticks = 0;
            return false;
        }
        if (++_ticks < _current) return false;
        _ticks = 0;
        _current = Math.Min(_current * 2, MaxTicks);
        _timing = false; // what the retransmission brings back cannot be timed
        return true;
    }

    /// <summary>Nothing was in flight: the timer starts afresh with the next segment.</summary>
    public void Idle() => _ticks = 0;
}
