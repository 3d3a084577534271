// AWS credentials from RunFunctionRequest.credentials (function/aws/credentials.ts),
// and how the handler's measuring pass uses them.
import { describe, expect, it } from 'vitest';
import type { RunFunctionRequest } from '@crossplane-org/function-sdk-typescript';
import { awsCredentialsFrom, parseCredentialsFile } from '../function/aws/credentials.js';
import type { Measurer, MeasureOptions } from '../function/aws/cloudwatch.js';
import { runFunctionWithMeasurements } from '../function/handler.js';
import { measurementKey, type MeasurementQuery } from '../function/core/analysis/measurements.js';

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
  const req = (credentials: RunFunctionRequest['credentials'] = {}): RunFunctionRequest => ({
    meta: { tag: 't', capabilities: [] },
    observed: undefined,
    desired: undefined,
    input: undefined,
    context: undefined,
    extraResources: {},
    credentials,
    requiredResources: {},
    requiredSchemas: {},
  });

  it('calls no measurer when no queries are asked (the default, and a steady LambdaCanary)', async () => {
    const { seen, measurer } = fake();
    const rsp = await runFunctionWithMeasurements(req(), { measurer });
    expect(seen).toEqual([]);
    expect(rsp.results[0]?.reason).toBe('NoComposite');
  });

  it("passes the step's credentials and a deadline to the measurer", async () => {
    const { seen, measurer } = fake();
    const before = Date.now();
    await runFunctionWithMeasurements(req(secret({ aws_access_key_id: 'A', aws_secret_access_key: 'S' })), {
      measurer,
      queriesFor: () => [q],
      deadlineMs: 1234,
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.queries).toEqual([q]);
    expect(seen[0]!.opts.credentials).toEqual({ accessKeyId: 'A', secretAccessKey: 'S' });
    expect(seen[0]!.opts.deadline).toBeGreaterThanOrEqual(before + 1234);
    expect(seen[0]!.opts.deadline).toBeLessThanOrEqual(Date.now() + 1234);
  });

  it('does not call CloudWatch with malformed credentials', async () => {
    const { seen, measurer } = fake();
    await runFunctionWithMeasurements(req(secret({ aws_access_key_id: 'A' })), { measurer, queriesFor: () => [q] });
    expect(seen).toEqual([]);
  });
});
