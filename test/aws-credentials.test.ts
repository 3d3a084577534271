// AWS credentials from RunFunctionRequest.credentials (function/aws/credentials.ts),
// and how the handler's measuring pass uses them.
import { describe, expect, it } from 'vitest';
import { RunFunctionRequest, Severity, Status } from '@crossplane-org/function-sdk-typescript';
import { awsCredentialsFrom, parseCredentialsFile } from '../function/aws/credentials.js';
import type { Measurer, MeasureOptions } from '../function/aws/cloudwatch.js';
import { runFunctionWithMeasurements } from '../function/handler.js';
import { measurementKey, type MeasurementQuery } from '../function/core/analysis/measurements.js';
import { RolloutSim, handlerDriver, progressiveSpec } from './support/rollout-sim.js';

const secret = (data: Record<string, string>) => ({
  aws: { credentialData: { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])) } },
});

describe('awsCredentialsFrom', () => {
  it('uses the SDK default chain (IRSA, EKS Pod Identity) when the step passes no credential "aws"', () => {
    expect(awsCredentialsFrom(undefined)).toEqual({ kind: 'default' });
    expect(awsCredentialsFrom({})).toEqual({ kind: 'default' });
    expect(awsCredentialsFrom({ other: { credentialData: { data: {} } } })).toEqual({ kind: 'default' });
  });

  it('reads aws_access_key_id, aws_secret_access_key and the optional aws_session_token, trimmed', () => {
    expect(awsCredentialsFrom(secret({ aws_access_key_id: 'AKIA1\n', aws_secret_access_key: ' s3cr3t ' }))).toEqual({
      kind: 'static',
      credentials: { accessKeyId: 'AKIA1', secretAccessKey: 's3cr3t' },
    });
    expect(awsCredentialsFrom(secret({ aws_access_key_id: 'AKIA1', aws_secret_access_key: 's', aws_session_token: 'tok' }))).toEqual({
      kind: 'static',
      credentials: { accessKeyId: 'AKIA1', secretAccessKey: 's', sessionToken: 'tok' },
    });
  });

  it("reads provider-aws's Secret: a key credentials holding a credentials file, [default] profile", () => {
    const file =
      '# provider-aws\n[other]\naws_access_key_id = NOPE\n\n[default]\naws_access_key_id = AKIA2\naws_secret_access_key=abc=def\n; comment\naws_session_token = t\n';
    expect(awsCredentialsFrom(secret({ credentials: file }))).toEqual({
      kind: 'static',
      credentials: { accessKeyId: 'AKIA2', secretAccessKey: 'abc=def', sessionToken: 't' },
    });
    expect(parseCredentialsFile('[ default ]\nAWS_ACCESS_KEY_ID = X')).toEqual({ aws_access_key_id: 'X' });
  });

  it('names the credential, the missing and present keys, and the keys it needs when the Secret is malformed', () => {
    const r = awsCredentialsFrom(secret({ aws_access_key_id: 'AKIA1', region: 'eu-west-1' }));
    expect(r).toEqual({
      kind: 'invalid',
      message:
        `reading AWS credentials from the pipeline step's credential "aws": the Secret lacks aws_secret_access_key (keys present: aws_access_key_id, region); ` +
        'it needs keys aws_access_key_id and aws_secret_access_key (and optionally aws_session_token), or a key credentials holding an AWS credentials file with a [default] profile',
    });
    expect(awsCredentialsFrom(secret({}))).toMatchObject({
      kind: 'invalid',
      message: expect.stringContaining('lacks aws_access_key_id and aws_secret_access_key (keys present: none)'),
    });
    expect(awsCredentialsFrom(secret({ credentials: '[prod]\naws_access_key_id=x\naws_secret_access_key=y' }))).toMatchObject({
      kind: 'invalid',
      message: expect.stringContaining("the [default] profile of the Secret's key credentials lacks aws_access_key_id and aws_secret_access_key"),
    });
    expect(awsCredentialsFrom({ aws: { credentialData: undefined } })).toMatchObject({
      kind: 'invalid',
      message: expect.stringContaining('carries no credential data'),
    });
  });
});

describe('runFunctionWithMeasurements', () => {
  // What the planner asks of CloudWatch for the XR below: the alarm, in the XR's region.
  const q: MeasurementQuery = { kind: 'alarms', region: 'eu-west-1', alarmNames: ['a'] };
  const fake = () => {
    const seen: { queries: readonly MeasurementQuery[]; opts: MeasureOptions }[] = [];
    const measurer: Measurer = {
      measure: (queries, opts) => {
        seen.push({ queries, opts });
        return Promise.resolve({ [measurementKey(q)]: { kind: 'alarms', states: { a: 'OK' } } });
      },
    };
    return { seen, measurer };
  };

  /**
   * A LambdaCanary rolling out from 5 to 6 with analysis.alarms [a], played by
   * the simulator through the in-process handler (its requests carry what
   * Crossplane hands back: the Alias with the rollout-state annotation the
   * function wrote, and the status): `steady` after the first deployment on 5
   * (no rollout, so no measurement), `measuring` once the Alias is synced at
   * 5 + 10% on 6, when the first measurement of step 1 is due.
   */
  function requests(): { steady: { req: RunFunctionRequest; now: Date }; measuring: { req: RunFunctionRequest; now: Date } } {
    const spec = progressiveSpec({
      target: '5',
      steps: [{ weight: 10, pause: { duration: '5m' } }],
      rollout: { analysis: { alarms: { names: ['a'] } } },
    });
    const sim = new RolloutSim({ spec: { ...spec, region: 'eu-west-1' }, driver: handlerDriver });
    expect(sim.tick().rollout).toMatchObject({ phase: 'Stable', stableVersion: '5' });
    const steady = sim.advance(60_000).nextRequest();
    sim.setTarget('6');
    const entered = sim.tick();
    expect(entered.rendered).toEqual({ primary: '5', secondary: { version: '6', percent: 10 } });
    expect(entered.rollout).toMatchObject({ phase: 'Progressing', step: 1 });
    expect(sim.aliasAnnotation('lambdacanary.fn.crossplane.io/rollout-state')).toEqual(expect.stringContaining('"step":1'));
    sim.advanceByTtl();
    return { steady, measuring: sim.nextRequest() };
  }
  const withCredentials = (req: RunFunctionRequest, credentials: RunFunctionRequest['credentials']): RunFunctionRequest => ({ ...req, credentials });
  const condition = (rsp: { conditions: { type: string; status: Status; reason: string; message?: string }[] }, type: string) =>
    rsp.conditions.find((c) => c.type === type);

  it('calls no measurer when the plan asks for no measurement: no composite, and a steady LambdaCanary', async () => {
    const { seen, measurer } = fake();
    const bare = RunFunctionRequest.fromPartial({ meta: { tag: 't' } });
    const rsp = await runFunctionWithMeasurements(bare, { measurer });
    expect(rsp.results[0]?.reason).toBe('NoComposite');
    const { steady } = requests();
    const stable = await runFunctionWithMeasurements(withCredentials(steady.req, secret({ aws_access_key_id: 'A', aws_secret_access_key: 'S' })), {
      measurer,
      now: () => steady.now,
    });
    expect(stable.results.filter((r) => r.severity === Severity.SEVERITY_FATAL)).toEqual([]);
    expect(stable.desired?.resources['alias']?.resource?.['spec']).toMatchObject({ functionVersion: '5' });
    expect(seen).toEqual([]);
  });

  it("passes the planner's queries, the step's credentials and a deadline to the measurer, and plans with its answer", async () => {
    const { seen, measurer } = fake();
    const { measuring } = requests();
    const before = Date.now();
    const rsp = await runFunctionWithMeasurements(withCredentials(measuring.req, secret({ aws_access_key_id: 'A', aws_secret_access_key: 'S' })), {
      measurer,
      now: () => measuring.now,
      deadlineMs: 1234,
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.queries).toEqual([q]);
    expect(seen[0]!.opts.credentials).toEqual({ accessKeyId: 'A', secretAccessKey: 'S' });
    expect(seen[0]!.opts.deadline).toBeGreaterThanOrEqual(before + 1234);
    expect(seen[0]!.opts.deadline).toBeLessThanOrEqual(Date.now() + 1234);
    // The second pass decided with the answer: alarm a is OK.
    expect(condition(rsp, 'AnalysisPassing')).toMatchObject({ status: Status.STATUS_CONDITION_TRUE, reason: 'Passing' });
    expect(rsp.desired?.composite?.resource?.['status']).toMatchObject({
      rollout: { phase: 'Progressing', step: 1, analysis: { result: 'Passing', checks: [{ name: 'alarm a', passed: true }] } },
    });
  });

  it('uses the default chain (no credentials in the options) when the step passes no credential "aws"', async () => {
    const { seen, measurer } = fake();
    const { measuring } = requests();
    await runFunctionWithMeasurements(measuring.req, { measurer, now: () => measuring.now });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.opts).not.toHaveProperty('credentials');
  });

  it('does not call CloudWatch with malformed credentials, and the analysis holds the step saying why', async () => {
    const { seen, measurer } = fake();
    const { measuring } = requests();
    const rsp = await runFunctionWithMeasurements(withCredentials(measuring.req, secret({ aws_access_key_id: 'A' })), { measurer, now: () => measuring.now });
    expect(seen).toEqual([]);
    expect(condition(rsp, 'AnalysisPassing')).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'Unreadable' });
    const warning = rsp.results.find((r) => r.reason === 'AnalysisUnreadable');
    expect(warning?.severity).toBe(Severity.SEVERITY_WARNING);
    expect(warning?.message).toContain('the Secret lacks aws_secret_access_key');
    expect(rsp.desired?.resources['alias']?.resource?.['spec']).toMatchObject({
      functionVersion: '5',
      routingConfig: { additionalVersionWeights: { '6': 0.1 } },
    });
  });
});
