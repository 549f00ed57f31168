// Unit tests of the checks behind the scanner, with published examples: card-network test
// numbers, the IBAN registry's example per country, NHS and ABA examples.
#include "privacy/validators.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "privacy/scanner.hpp"

namespace hearth::privacy {
namespace {

namespace v = validators;

TEST(Validators, LuhnAcceptsValidAndRejectsAlteredNumbers) {
  EXPECT_TRUE(v::luhn("4111111111111111"));
  EXPECT_TRUE(v::luhn("79927398713"));
  EXPECT_TRUE(v::luhn("0"));
  EXPECT_FALSE(v::luhn("4111111111111112"));
  EXPECT_FALSE(v::luhn("79927398710"));
  EXPECT_FALSE(v::luhn(""));
  EXPECT_FALSE(v::luhn("4111-1111"));  // digits only
}

TEST(Validators, CardNumbersOfEachNetwork) {
  const std::vector<std::string> valid = {
      "4111111111111111",    "4012888888881881",    "4222222222222",    "4000056655665556",  // Visa
      "5555555555554444",    "5105105105105100",    "2223003122003222", "5200828282828210",  // MC
      "378282246310005",     "371449635398431",     "378734493671000",                       // Amex
      "6011111111111117",    "6011000990139424",    "6011981111111113",  // Discover
      "3530111333300000",    "3566002020360505",                         // JCB
      "30569309025904",      "38520000023237",      "36227206271667",    // Diners
      "6200000000000005",    "6205500000000000004",                      // UnionPay
      "4111111111111111110",                                             // Visa 19
  };
  for (const std::string& number : valid) EXPECT_TRUE(v::card_number(number)) << number;
  EXPECT_FALSE(v::card_number("4111111111111112"));      // Luhn
  EXPECT_FALSE(v::card_number("1234567812345670"));      // Luhn holds, no issuer starts with 1
  EXPECT_FALSE(v::card_number("7000000000000007"));      // no issuer starts with 7
  EXPECT_FALSE(v::card_number("41111111111111"));        // Visa has no 14-digit numbers
  EXPECT_FALSE(v::card_number("37828224631000"));        // Amex is 15 digits
  EXPECT_FALSE(v::card_number("555555555555444"));       // Mastercard is 16 digits
  EXPECT_FALSE(v::card_number("411111111111"));          // too short
  EXPECT_FALSE(v::card_number("41111111111111111111"));  // too long
}

TEST(Validators, IbanRegistryExamplesOfEveryCountry) {
  const std::vector<std::string> examples = {"AD1200012030200359100100",
                                             "AE070331234567890123456",
                                             "AL47212110090000000235698741",
                                             "AT611904300234573201",
                                             "AZ21NABZ00000000137010001944",
                                             "BA391290079401028494",
                                             "BE68539007547034",
                                             "BG80BNBG96611020345678",
                                             "BH67BMAG00001299123456",
                                             "BR1800360305000010009795493C1",
                                             "BY13NBRB3600900000002Z00AB00",
                                             "CH9300762011623852957",
                                             "CR05015202001026284066",
                                             "CY17002001280000001200527600",
                                             "CZ6508000000192000145399",
                                             "DE89370400440532013000",
                                             "DK5000400440116243",
                                             "DO28BAGR00000001212453611324",
                                             "EE382200221020145685",
                                             "EG380019000500000000263180002",
                                             "ES9121000418450200051332",
                                             "FI2112345600000785",
                                             "FO6264600001631634",
                                             "FR1420041010050500013M02606",
                                             "GB29NWBK60161331926819",
                                             "GB82WEST12345698765432",
                                             "GE29NB0000000101904917",
                                             "GI75NWBK000000007099453",
                                             "GL8964710001000206",
                                             "GR1601101250000000012300695",
                                             "GT82TRAJ01020000001210029690",
                                             "HR1210010051863000160",
                                             "HU42117730161111101800000000",
                                             "IE29AIBK93115212345678",
                                             "IL620108000000099999999",
                                             "IQ98NBIQ850123456789012",
                                             "IS140159260076545510730339",
                                             "IT60X0542811101000000123456",
                                             "JO94CBJO0010000000000131000302",
                                             "KW81CBKU0000000000001234560101",
                                             "KZ86125KZT5004100100",
                                             "LB62099900000001001901229114",
                                             "LC55HEMM000100010012001200023015",
                                             "LI21088100002324013AA",
                                             "LT121000011101001000",
                                             "LU280019400644750000",
                                             "LV80BANK0000435195001",
                                             "MC5811222000010123456789030",
                                             "MD24AG000225100013104168",
                                             "ME25505000012345678951",
                                             "MK07250120000058984",
                                             "MR1300020001010000123456753",
                                             "MT84MALT011000012345MTLCAST001S",
                                             "MU17BOMM0101101030300200000MUR",
                                             "NL91ABNA0417164300",
                                             "NO9386011117947",
                                             "PK36SCBL0000001123456702",
                                             "PL61109010140000071219812874",
                                             "PS92PALS000000000400123456702",
                                             "PT50000201231234567890154",
                                             "QA58DOHB00001234567890ABCDEFG",
                                             "RO49AAAA1B31007593840000",
                                             "RS35260005601001611379",
                                             "SA0380000000608010167519",
                                             "SC18SSCB11010000000000001497USD",
                                             "SE4550000000058398257466",
                                             "SI56263300012039086",
                                             "SK3112000000198742637541",
                                             "SM86U0322509800000000270100",
                                             "ST68000100010051845310112",
                                             "SV62CENR00000000000000700025",
                                             "TL380080012345678910157",
                                             "TN5910006035183598478831",
                                             "TR330006100519786457841326",
                                             "UA213223130000026007233566001",
                                             "VA59001123000012345678",
                                             "VG96VPVG0000012345678901",
                                             "XK051212012345678906",
                                             "BI4210000100010000332045181",
                                             "DJ2100010000000154000100186",
                                             "FK88SC123456789012",
                                             "LY83002048000020100120361",
                                             "MN121234123456789123",
                                             "NI45BAPR00000013000003558124",
                                             "OM810180000001299123456",
                                             "RU0204452560040702810412345678901",
                                             "SD2129010501234001",
                                             "SO211000001001000100141",
                                             "YE15CBYE0001018861234567891234"};
  for (const std::string& iban : examples) {
    EXPECT_TRUE(v::iban(iban)) << iban;
    EXPECT_EQ(v::iban_length(iban.substr(0, 2)), static_cast<int>(iban.size())) << iban;
  }
}

TEST(Validators, IbanRejectsWrongCheckDigitsLengthsAndCountries) {
  EXPECT_FALSE(v::iban("DE89370400440532013001"));   // altered account number
  EXPECT_FALSE(v::iban("DE88370400440532013000"));   // altered check digits
  EXPECT_FALSE(v::iban("DE8937040044053201300"));    // one short
  EXPECT_FALSE(v::iban("DE893704004405320130000"));  // one long
  EXPECT_FALSE(v::iban("XX89370400440532013000"));   // no such country
  EXPECT_FALSE(v::iban("US89370400440532013000"));   // a country without IBAN
  EXPECT_FALSE(v::iban("de89370400440532013000"));   // lower case
  EXPECT_EQ(v::iban_length("DE"), 22);
  EXPECT_EQ(v::iban_length("NO"), 15);
  EXPECT_EQ(v::iban_length("RU"), 33);
  EXPECT_EQ(v::iban_length("US"), 0);
  EXPECT_EQ(v::iban_length("D"), 0);
}

TEST(Validators, Mod97IsTheIbanCheck) {
  EXPECT_TRUE(v::mod97("GB82WEST12345698765432"));
  EXPECT_FALSE(v::mod97("GB82WEST12345698765433"));
  EXPECT_FALSE(v::mod97("GB82"));
  EXPECT_FALSE(v::mod97("GB82west12345698765432"));
}

TEST(Validators, NhsNumbersMod11) {
  EXPECT_TRUE(v::nhs_number("9434765919"));
  EXPECT_TRUE(v::nhs_number("4010232137"));
  EXPECT_TRUE(v::nhs_number("4505577104"));
  EXPECT_FALSE(v::nhs_number("9434765918"));
  EXPECT_FALSE(v::nhs_number("1234567890"));
  EXPECT_FALSE(v::nhs_number("943476591"));  // nine digits
  EXPECT_TRUE(v::mod11("9434765919"));
  EXPECT_FALSE(v::mod11("9434765910"));
  // A remainder that asks for check digit 10 never validates.
  EXPECT_FALSE(v::mod11("0000000010"));
}

TEST(Validators, AbaRoutingNumbers) {
  for (const char* routing :
       {"011000015", "021000021", "026009593", "121000248", "111000025", "322271627"}) {
    EXPECT_TRUE(v::aba_routing(routing)) << routing;
  }
  EXPECT_FALSE(v::aba_routing("011000016"));  // checksum
  EXPECT_FALSE(v::aba_routing("123456789"));  // checksum
  EXPECT_FALSE(v::aba_routing("990000000"));  // checksum holds, prefix 99 is no Fed district
  EXPECT_TRUE(v::aba("990000000"));
  EXPECT_FALSE(v::aba_routing("01100001"));  // eight digits
}

TEST(Validators, SsnAreaGroupSerialRules) {
  EXPECT_TRUE(v::ssn("123456789"));
  EXPECT_TRUE(v::ssn("899999999"));
  EXPECT_FALSE(v::ssn("000123456"));  // area 000
  EXPECT_FALSE(v::ssn("666123456"));  // area 666
  EXPECT_FALSE(v::ssn("900123456"));  // areas 900-999
  EXPECT_FALSE(v::ssn("123006789"));  // group 00
  EXPECT_FALSE(v::ssn("123450000"));  // serial 0000
  EXPECT_FALSE(v::ssn("078051120"));  // the Woolworth wallet number
  EXPECT_FALSE(v::ssn("219099999"));  // printed in an SSA pamphlet
  EXPECT_FALSE(v::ssn("12345678"));
}

TEST(Validators, VerhoeffCheckDigit) {
  EXPECT_TRUE(v::verhoeff("2363"));
  EXPECT_FALSE(v::verhoeff("2364"));
  EXPECT_TRUE(v::verhoeff("234123412346"));  // an Aadhaar-format example
  EXPECT_FALSE(v::verhoeff("234123412347"));
  EXPECT_FALSE(v::verhoeff("123456789012"));
}

TEST(Validators, NamedValidatorsExtractTheirCharacters) {
  EXPECT_TRUE(v::known_name("luhn"));
  EXPECT_TRUE(v::known_name("verhoeff"));
  EXPECT_FALSE(v::known_name("crc32"));
  EXPECT_TRUE(v::run_named("luhn", "4111-1111-1111-1111"));
  EXPECT_FALSE(v::run_named("luhn", "4111-1111-1111-1112"));
  EXPECT_TRUE(v::run_named("mod97", "gb82 west 1234 5698 7654 32"));
  EXPECT_TRUE(v::run_named("mod11", "943 476 5919"));
  EXPECT_TRUE(v::run_named("aba", "ABA 011000015"));
  EXPECT_TRUE(v::run_named("verhoeff", "2341 2341 2346"));
  EXPECT_FALSE(v::run_named("verhoeff", "no digits"));
  EXPECT_FALSE(v::run_named("unknown", "4111111111111111"));
}

TEST(Validators, CalendarDates) {
  EXPECT_TRUE(v::valid_date(1985, 3, 15));
  EXPECT_TRUE(v::valid_date(2000, 2, 29));
  EXPECT_FALSE(v::valid_date(1900, 2, 29));
  EXPECT_TRUE(v::valid_date(2024, 2, 29));
  EXPECT_FALSE(v::valid_date(2023, 2, 29));
  EXPECT_FALSE(v::valid_date(2023, 4, 31));
  EXPECT_FALSE(v::valid_date(2023, 13, 1));
  EXPECT_FALSE(v::valid_date(2023, 0, 1));
  EXPECT_FALSE(v::valid_date(2023, 1, 0));
}

TEST(Validators, JwtHeaderMustBeJsonNamingAlg) {
  EXPECT_TRUE(v::jwt_header("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"));  // {"alg":"HS256",...}
  EXPECT_TRUE(v::jwt_header("eyJhbGciOiJub25lIn0"));                   // {"alg":"none"}
  EXPECT_FALSE(v::jwt_header("eyJ0eXAiOiJKV1QifQ"));                   // {"typ":"JWT"}
  EXPECT_FALSE(v::jwt_header("W3siYWxnIjoxfV0"));                      // [{"alg":1}]: not an object
  EXPECT_FALSE(v::jwt_header("not*base64url"));
}

TEST(Validators, ShannonEntropy) {
  EXPECT_DOUBLE_EQ(v::shannon_entropy(""), 0.0);
  EXPECT_DOUBLE_EQ(v::shannon_entropy("aaaa"), 0.0);
  EXPECT_DOUBLE_EQ(v::shannon_entropy("abab"), 1.0);
  EXPECT_DOUBLE_EQ(v::shannon_entropy("0123456789abcdef"), 4.0);
  EXPECT_GT(v::shannon_entropy("8f7a9c2b1d4e6f80a1b2c3d4e5f6a7b8"), 3.5);
  EXPECT_LT(v::shannon_entropy("passwordpassword"), 3.0);
}

TEST(Validators, WordCodePointsAcrossScripts) {
  for (char32_t c : {U'a', U'Z', U'0', U'_', U'é', U'ß', U'Ж', U'ω', U'א', U'ب', U'क', U'\u0301',
                     U'ა', U'Ａ', U'１'}) {
    EXPECT_TRUE(v::is_word_code_point(c)) << static_cast<std::uint32_t>(c);
  }
  for (char32_t c : {U' ', U'-', U'.', U'@', U'\u00A0', U'«', U'—', U'。', U'，', U'中', U'あ',
                     U'한', U'ก', U'😀', U'\u060C', U'\u0964'}) {
    EXPECT_FALSE(v::is_word_code_point(c)) << static_cast<std::uint32_t>(c);
  }
}

TEST(Validators, CodePointsDecodeAtBoundaries) {
  const std::string_view text = "aé中😀";
  std::size_t length = 0;
  EXPECT_EQ(v::code_point_at(text, 0, &length), U'a');
  EXPECT_EQ(length, 1u);
  EXPECT_EQ(v::code_point_at(text, 1, &length), U'é');
  EXPECT_EQ(length, 2u);
  EXPECT_EQ(v::code_point_at(text, 3, &length), U'中');
  EXPECT_EQ(length, 3u);
  EXPECT_EQ(v::code_point_at(text, 6, &length), U'😀');
  EXPECT_EQ(length, 4u);
  EXPECT_EQ(v::previous_code_point(text, 10), U'😀');
  EXPECT_EQ(v::previous_code_point(text, 6), U'中');
  EXPECT_EQ(v::previous_code_point(text, 3), U'é');
  EXPECT_EQ(v::previous_code_point(text, 1), U'a');
  EXPECT_EQ(v::previous_code_point(text, 0), 0u);
}

TEST(Validators, CaseFoldingPairs) {
  EXPECT_EQ(v::fold_case(U'A'), U'a');
  EXPECT_EQ(v::fold_case(U'Ü'), U'ü');
  EXPECT_EQ(v::fold_case(U'ü'), U'ü');
  EXPECT_EQ(v::fold_case(U'Ł'), U'ł');
  EXPECT_EQ(v::fold_case(U'Ж'), U'ж');
  EXPECT_EQ(v::fold_case(U'Ё'), U'ё');
  EXPECT_EQ(v::fold_case(U'Σ'), U'σ');
  EXPECT_EQ(v::fold_case(U'Ա'), U'ա');
  EXPECT_EQ(v::other_case(U'ü'), U'Ü');
  EXPECT_EQ(v::other_case(U'Ü'), U'ü');
  EXPECT_EQ(v::other_case(U'ς'), U'Σ');
  EXPECT_EQ(v::other_case(U'ß'), U'ß');  // no single-letter upper case
  EXPECT_EQ(v::other_case(U'中'), U'中');
  EXPECT_EQ(v::other_case(U'1'), U'1');
}

}  // namespace
}  // namespace hearth::privacy
