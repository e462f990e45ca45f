import type { GenerateTemplateRequest, GenerateTemplateResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { oneOf } from '../../api/schema.ts';
import { appIdField } from '../../api/appShapes.ts';
import { OUTPUT_FORMATS } from '../../domain/appEnums.ts';
import { generateTemplate as generate } from '../../core/apps/templates.ts';
import { portsOf } from './appContext.ts';

export const generateTemplate: Operation<GenerateTemplateRequest, GenerateTemplateResponse> = {
  input: { appId: appIdField(), templateFormat: oneOf(OUTPUT_FORMATS) },
  async handle(input, ctx) {
    return { s3Location: await generate(ctx.core, ctx.tenant, { ...input, appId: input.appId! }, portsOf(ctx)) };
  },
};
