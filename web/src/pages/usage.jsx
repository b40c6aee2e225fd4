// Placeholder until the usage page lands (it is written by another helper).
export default function UsagePage() {
  return <div class="page" />;
}

export const strings = { en: {}, zh: {} };
