import { defineRoute } from "../../rest/route";
import { fxListOutput, fxPutInput, pricesListOutput, pricesPutInput, pricesPutOutput } from "./schema";
import * as prices from "./service";

export const priceRoutes = [
  defineRoute({
    method: "get",
    path: "/api/model-prices",
    tag: "Prices",
    summary: "Model prices (USD per 1M tokens) with their effective dates",
    response: pricesListOutput,
    handler: ({ ctx }) => prices.list({ ctx }),
  }),
  defineRoute({
    method: "put",
    path: "/api/model-prices",
    tag: "Prices",
    summary: "Add or replace model price entries; unpriced events of those models are priced",
    body: pricesPutInput,
    response: pricesPutOutput,
    handler: ({ ctx, body }) => prices.put({ ctx, input: body }),
  }),
  defineRoute({
    method: "get",
    path: "/api/fx-rates",
    tag: "Prices",
    summary: "FX rates (units per 1 USD) with their effective dates",
    response: fxListOutput,
    handler: ({ ctx }) => prices.fxList({ ctx }),
  }),
  defineRoute({
    method: "put",
    path: "/api/fx-rates",
    tag: "Prices",
    summary: "Add or replace FX rate entries",
    body: fxPutInput,
    response: fxListOutput,
    handler: ({ ctx, body }) => prices.fxPut({ ctx, input: body }),
  }),
];
