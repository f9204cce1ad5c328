import { describe, expect, it } from 'vitest';
import { parseServeArgs } from '../../examples/video/config.js';
import { dashboardOriginHint } from '../../examples/video/startup-problems.js';

describe('the startup warning for an --origin list that leaves out the dashboard', () => {
  const hint = (args: string[]) => dashboardOriginHint(parseServeArgs(args, {}), 'http://127.0.0.1:8080');

  it("names the dashboard's origin and the flag to add when the list leaves it out", () => {
    expect(hint(['--origin', 'https://app.example'])).toBe(
      '\n  warning: --origin does not list http://127.0.0.1:8080, so the dashboard served there cannot connect; add --origin http://127.0.0.1:8080',
    );
  });

  it('says nothing without --origin, with the own origin listed, or with *', () => {
    expect(hint([])).toBe('');
    expect(hint(['--origin', 'https://app.example', '--origin', 'http://127.0.0.1:8080'])).toBe('');
    expect(hint(['--origin', '*'])).toBe('');
  });
});
