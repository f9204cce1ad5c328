/** The longest event-loop stall of this process since `reset`, in wall time and in CPU time over that gap. */
export interface StallMeter {
  reset(): void;
  longest(): { wallMs: number; cpuMs: number };
}

/**
 * The longest gap between two runs of a 1 ms interval timer since `reset` (bench:fanout and bench:cluster): how
 * long the loop answered nothing else, in wall time and in the process's CPU time over that same gap. On a
 * loaded machine a wall gap includes time the process was not scheduled at all; the CPU gap is the work
 * that held the loop.
 */
export function stallMeter(): StallMeter {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let wall = 0;
  let cpu = 0;
  const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;
  setInterval(() => {
    const now = performance.now();
    wall = Math.max(wall, now - last);
    cpu = Math.max(cpu, cpuMs(process.cpuUsage(lastCpu)));
    last = now;
    lastCpu = process.cpuUsage();
  }, 1).unref();
  return {
    reset: () => ((last = performance.now()), (lastCpu = process.cpuUsage()), (wall = 0), (cpu = 0)),
    longest: () => ({ wallMs: Math.max(wall, performance.now() - last), cpuMs: Math.max(cpu, cpuMs(process.cpuUsage(lastCpu))) }),
  };
}
