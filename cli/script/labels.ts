import { truncate } from './match.js';
import type { Expectation, Step } from './steps.js';

function brief(value: unknown): string {
  return truncate(typeof value === 'string' ? value : JSON.stringify(value), 60);
}

/** How a step reads in a report: its `name`, else a summary of what it does. */
export function label(step: Step): string {
  const saves = 'save' in step && step.save !== undefined ? ` → ${step.save}` : '';
  if (step.name !== undefined) return step.name;
  switch (step.kind) {
    case 'connect':
    case 'disconnect':
      return `${step.kind} ${step.clients.join(', ')}${saves}`;
    case 'call':
      return `call ${step.client} ${step.function}${saves}`;
    case 'narrow':
      return `narrow ${brief(step.from)}${step.suffix.length ? ` + ${brief(step.suffix)}` : ''}${saves}`;
    case 'forge':
      return `forge ${brief(step.scope)}${step.signatureOf === undefined ? '' : ' with a copied signature'}${saves}`;
    case 'delegate':
      return `delegate ${step.client} → ${step.to}${step.bearer ? ' (bearer)' : ''}${saves}`;
    case 'revoke':
      return `revoke ${step.client} ${brief(step.cap)}${saves}`;
    case 'presence':
      return `presence ${step.client}${saves}`;
    case 'wait':
      return `wait ${step.client} ${step.for}${saves}`;
    case 'send': {
      const what = 'hex' in step.payload ? `hex ${brief(step.payload.hex)}` : 'text' in step.payload ? `text ${brief(step.payload.text)}` : `frame ${brief(step.payload.frame)}`;
      return `send ${step.client} ${what}${step.repeat > 1 ? ` ×${step.repeat}` : ''}${saves}`;
    }
    case 'check':
      return `expect ${brief(step.value)}`;
    case 'quiet':
      return `expect ${step.client} receives nothing`;
    case 'let':
      return `let ${Object.keys(step.values).join(', ')}`;
  }
}

/** How an expectation reads in a report. */
export function expectationLabel(e: Expectation): string {
  switch (e.kind) {
    case 'equals':
      return `equals ${brief(e.value)}`;
    case 'match':
      return `matches ${brief(e.pattern)}`;
    case 'error':
      return `error ${e.code}`;
  }
}
