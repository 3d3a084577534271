// The AWS side of the cluster suite: moto as the Lambda API, reached with the
// real AWS SDK for JavaScript v3. What moto's alias holds is the real traffic.
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IAMClient, CreateRoleCommand } from '@aws-sdk/client-iam';
import {
  CreateFunctionCommand,
  GetAliasCommand,
  LambdaClient,
  ListVersionsByFunctionCommand,
  UpdateFunctionCodeCommand,
  type AliasConfiguration,
} from '@aws-sdk/client-lambda';
import { MOTO_SERVER, REGION } from './stack.js';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export function lambdaClient(endpoint: string): LambdaClient {
  return new LambdaClient({ endpoint, region: REGION, credentials, maxAttempts: 2 });
}

/** A zip holding index.js with `body`, made with the Python that runs moto (no zip writer in Node). */
export function zipOf(body: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'flc-zip-'));
  try {
    const out = join(dir, 'code.zip');
    const python = join(MOTO_SERVER, '..', 'python3');
    execFileSync(python, ['-c', 'import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], "w") as z: z.writestr("index.js", sys.argv[2])', out, body]);
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface LambdaFixture {
  lambda: LambdaClient;
  roleArn: string;
  /** Creates a function whose $LATEST has code `release-0`. */
  createFunction(name: string, opts?: { deadLetterTarget?: string }): Promise<void>;
  /** Changes $LATEST's code so that the next PublishVersion makes a new version; returns CodeSha256. */
  newCode(name: string, release: string): Promise<string>;
  alias(functionName: string, alias: string): Promise<AliasConfiguration | undefined>;
  versions(functionName: string): Promise<string[]>;
}

export async function lambdaFixture(endpoint: string): Promise<LambdaFixture> {
  const lambda = lambdaClient(endpoint);
  const iam = new IAMClient({ endpoint, region: REGION, credentials });
  const role = await iam.send(
    new CreateRoleCommand({
      RoleName: 'flc-e2e-lambda',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
    }),
  );
  const roleArn = role.Role!.Arn!;
  return {
    lambda,
    roleArn,
    async createFunction(name, opts = {}) {
      await lambda.send(
        new CreateFunctionCommand({
          FunctionName: name,
          Runtime: 'nodejs22.x',
          Role: roleArn,
          Handler: 'index.handler',
          Code: { ZipFile: zipOf(`exports.handler = async () => "release-0";`) },
          ...(opts.deadLetterTarget ? { DeadLetterConfig: { TargetArn: opts.deadLetterTarget } } : {}),
        }),
      );
    },
    async newCode(name, release) {
      const r = await lambda.send(
        new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zipOf(`exports.handler = async () => ${JSON.stringify(release)};`) }),
      );
      return r.CodeSha256!;
    },
    async alias(functionName, alias) {
      try {
        return await lambda.send(new GetAliasCommand({ FunctionName: functionName, Name: alias }));
      } catch (err) {
        if ((err as { name?: string }).name === 'ResourceNotFoundException') return undefined;
        throw err;
      }
    },
    async versions(functionName) {
      const r = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: functionName }));
      return (r.Versions ?? []).map((v) => v.Version!).filter((v) => v !== '$LATEST');
    },
  };
}

/** What an alias sends where, as one comparable value: "41" or "41 + 42@0.1". */
export function routing(alias: AliasConfiguration | undefined): string | undefined {
  if (alias === undefined) return undefined;
  const weights = alias.RoutingConfig?.AdditionalVersionWeights ?? {};
  const parts = Object.entries(weights)
    .filter(([, w]) => w > 0)
    .map(([v, w]) => `${v}@${w}`);
  return [alias.FunctionVersion, ...parts].join(' + ');
}
