// Placeholder until the billing page lands (it is written by another helper).
export default function BillingPage() {
  return <div class="page" />;
}

export const strings = { en: {}, zh: {} };
